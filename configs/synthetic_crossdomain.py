"""Cross-domain self-training on synthetic cities (paper section 3.4, Table 12).

  python -m stseg_jax.self_train --config=configs/synthetic_crossdomain.py --workdir=/tmp/xdomain

Source domain A: 200 labelled scenes train a Fast-SCNN teacher. Target domain
B (another palette, weather and camera height, plus two new classes: lane
marking and crosswalk) gives 400 unlabelled scenes, which the teacher labels;
the student trains on A's real labels plus B's pseudo labels (3:1, centroid
sampling). Both then finetune on a 5-shot split of B's labelled scenes, with
the classifier re-initialised for B's 21 classes, and are compared on B's val
scenes: report.md, "Target domain". About 25 minutes on a 2-core CPU.
"""
from configs import synthetic_fastscnn


def get_config():
  c = synthetic_fastscnn.get_config()
  c.data.num_train, c.data.num_unlabeled = 200, 400
  c.train.num_epochs = 16
  c.eval_every = 10_000  # once, at the end of each stage
  c.unlabeled.domain = 'B'
  c.student.train = {'num_epochs': 4}  # 4x the items an epoch (ratio 3): ~same steps
  c.student.pseudo = {'ratio': 3.0, 'class_uniform_fraction': 1.0}
  c.target.data = {'domain': 'B', 'extra_classes': True, 'train_split': 'train_kshot',
                   'kshot': 5, 'num_train': 200}
  c.target.train = {'num_epochs': 40, 'base_lr': 0.01, 'epoch_items': 64}
  return c
