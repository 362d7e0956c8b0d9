"""Self-training on real CamVid: teacher on a quarter of train, the rest unlabeled.

  python -m stseg_jax.self_train --config=configs/camvid_selftrain.py --workdir=/tmp/camvid_st

The labeled quarter is a fixed seeded split of the 367 train frames
(`data.labeled_fraction`, `data.split_seed`); the other 275 frames are the
unlabeled set (their labels are never read). Evaluated on val (101 frames).
About 21 minutes on a 2-core CPU (result in the README).
"""
from configs import camvid_fastscnn


def get_config():
  c = camvid_fastscnn.get_config()
  c.data.labeled_fraction = 0.25
  c.data.split_seed = 0
  c.data.train_split = 'train_labeled'
  c.unlabeled.split = 'train_unlabeled'
  c.train.num_epochs = 60
  c.eval_every = 10_000
  c.student.train = {'num_epochs': 15}
  c.student.pseudo = {'ratio': 3.0, 'class_uniform_fraction': 1.0}
  return c
