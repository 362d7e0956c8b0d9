"""Fast-SCNN on real CamVid (11 classes, 360x480): train on train, eval on val.

  python -m stseg_jax.train --config=configs/camvid_fastscnn.py --workdir=/tmp/camvid \
      [--config.data.root=/path/to/camvid]

The default root is ../shared/data/camvid next to this repository.
"""
import os

from configs import default

_SHARED_CAMVID = os.path.normpath(os.path.join(
    os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared', 'data', 'camvid'))


def get_config():
  c = default.get_config()
  c.model.name = 'fast_scnn'
  del c.model.backbone
  del c.model.output_stride
  c.data.name = 'camvid'
  c.data.root = _SHARED_CAMVID
  c.data.num_workers = 1
  c.train.num_epochs = 30
  c.train.crop_sizes = (320,)
  c.train.batch_size = 8
  c.train.base_lr = 0.05
  c.loss.ohem = False
  c.eval.batch_size = 4
  c.log_every = 20
  c.eval_every = 500
  c.checkpoint_every = 500
  return c
