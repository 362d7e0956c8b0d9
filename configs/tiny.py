"""A run of seconds on synthetic scenes, for command-line checks (tests, benchmarks/fault_probe.py).

  python -m stseg_jax.train --config=configs/tiny.py --workdir=/tmp/tiny

Fast-SCNN on 16 scenes of 64x128, crop 64, batch 8, 4 steps; 8 val scenes.
"""
from configs import synthetic_fastscnn


def get_config():
  c = synthetic_fastscnn.get_config()
  c.data.height, c.data.width = 64, 128
  c.data.num_train, c.data.num_val, c.data.num_unlabeled = 16, 8, 8
  # Threads: a worker process starts per epoch, seconds each, and these epochs are 2 steps.
  c.data.num_workers = 0
  c.train.crop_sizes = (64,)
  c.train.batch_size = 8
  c.train.num_epochs = 2
  c.train.epoch_items = 16
  c.loss.ohem = False
  c.eval.batch_size = 8
  c.eval.num_visuals = 0
  c.pseudo_label.images_per_shard = 4
  c.log_every, c.eval_every, c.checkpoint_every = 1, 4, 2
  return c
