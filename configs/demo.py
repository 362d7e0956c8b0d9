"""Self-training on synthetic scenes, where labels are scarce: the whole workflow on a CPU.

  python -m stseg_jax.self_train --config=configs/demo.py --workdir=/tmp/stseg_demo

A Fast-SCNN teacher learns from 16 labeled scenes (240 steps), labels the
other 384 scenes of the split, and a student of the same network trains on
real + pseudo labels at 1:1 for the paper's epochs (so twice the teacher's
steps), with the noise controls of the semi-supervised field: strong augmentation + CutMix of the pseudo crops (ST++)
and each class's most confident half of the pseudo pixels (CBST). Beside it,
the duplicate-real control (paper Table 2b): the student's recipe and steps
with the 16 real scenes repeated where the pseudo ones were. All three are
scored on the same 50 val scenes: DIR/report.md. Scenes of 256x512, crop 160;
the gates (stseg_jax/gates.py) are printed before the student trains.
"""
from configs import synthetic_fastscnn


def get_config():
  c = synthetic_fastscnn.get_config()
  c.data.height, c.data.width = 256, 512
  c.data.num_train, c.data.num_val = 400, 50
  c.data.train_split = 'train_labeled'  # 16 of the 400 scenes (data.labeled_fraction)
  c.data.labeled_fraction = 16 / 400
  c.unlabeled.split = 'train_unlabeled'  # the other 384, labels never read
  # Threads, not worker processes: an epoch is 8 steps here, and a worker
  # process started for each epoch made the input pipeline 2.5x slower.
  c.data.num_workers = 0
  c.train.crop_sizes = (160,)
  c.train.epoch_items = 64  # 8 steps an epoch
  c.train.num_epochs = 30
  c.loss.ohem = False  # as synthetic_fastscnn: a small crop has fewer pixels than OHEM's minimum
  c.eval_every = 80  # three evaluations: the plateau gate reads the last third
  c.checkpoint_every = 240
  c.self_training.gates = True
  c.self_training.duplicate_real_control = True
  c.pseudo_label.store_confidence = True
  c.student.train = {'num_epochs': 30}  # the teacher's epochs, each twice as long at 1:1
  c.student.eval_every = 10_000  # scored once, at the end
  c.student.pseudo = {'ratio': 1.0, 'class_uniform_fraction': 1.0, 'strong_augment': True,
                      'class_keep_fraction': 0.5}
  return c
