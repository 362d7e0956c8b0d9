"""Fast-SCNN on synthetic driving scenes: the README's CPU demo.

  python -m stseg_jax.train --config=configs/demo.py --workdir=/tmp/demo

Needs no download; a few minutes on a 2-core CPU.
"""
from configs import default


def get_config():
  c = default.get_config()
  c.model.name = 'fast_scnn'
  del c.model.backbone
  del c.model.output_stride
  c.data.name = 'synthetic'
  c.data.height, c.data.width = 256, 512
  c.data.num_train, c.data.num_val = 500, 100
  c.data.num_workers = 1
  c.train.num_epochs = 8
  c.train.crop_sizes = (256,)
  c.train.batch_size = 8
  c.train.base_lr = 0.05
  c.loss.ohem = False
  c.eval.batch_size = 10
  c.log_every = 20
  c.eval_every = 250
  c.checkpoint_every = 250
  return c
