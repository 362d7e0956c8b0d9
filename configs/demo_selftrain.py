"""Self-training on synthetic scenes: the whole workflow on a CPU.

  python -m stseg_jax.self_train --config=configs/demo_selftrain.py --workdir=/tmp/selftrain

A Fast-SCNN teacher learns from 100 labeled scenes, labels 400 unlabeled
ones, and a Fast-SCNN student trains on 100 real + 300 pseudo-labelled crops
an epoch with centroid sampling on the pseudo labels (ratio 3:1, Table 2a).
Both are evaluated on the same 100 val scenes: DIR/report.md.
"""
from configs import demo


def get_config():
  c = demo.get_config()
  c.data.num_train = 100  # the labeled set
  c.data.num_unlabeled = 400
  c.train.num_epochs = 30
  c.eval_every = 10_000  # evaluated once at the end
  c.student.train = {'num_epochs': 10}  # 4x the items an epoch: ~same steps
  c.student.pseudo = {'ratio': 3.0, 'class_uniform_fraction': 1.0}
  return c
