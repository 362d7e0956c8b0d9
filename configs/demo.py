"""Self-training on synthetic scenes: the whole workflow on a CPU, in about 9 minutes.

  python -m stseg_jax.self_train --config=configs/demo.py --workdir=/tmp/stseg_demo

A Fast-SCNN teacher learns from 100 labeled scenes (16 epochs), labels 400
unlabeled ones, and a Fast-SCNN student trains, as in the paper, for as many
epochs over the real scenes as the teacher with 3 pseudo-labelled crops per
real one on top (ratio 3:1, Table 2a; centroid sampling on the pseudo labels),
so 4x the teacher's steps. Both are evaluated on the same 100 val scenes:
DIR/report.md. Crops of 192 keep it under 9 minutes on a 2-core CPU.
"""
from configs import synthetic_fastscnn


def get_config():
  c = synthetic_fastscnn.get_config()
  c.data.num_train = 100  # the labeled set
  c.data.num_unlabeled = 400
  c.train.crop_sizes = (192,)
  c.train.num_epochs = 16
  c.eval_every = 10_000  # evaluated once at the end
  c.student.train = {'num_epochs': 16}
  c.student.pseudo = {'ratio': 3.0, 'class_uniform_fraction': 1.0}
  return c
