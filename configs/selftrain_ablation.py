"""The self-training ablations on synthetic scenes, 3 seeds: `stseg_jax.ablation`.

  python -m stseg_jax.ablation --config=configs/selftrain_ablation.py --workdir=/tmp/ablation

Per seed: a Fast-SCNN teacher on 100 labeled scenes (16 epochs), its hard
labels on 400 unlabeled scenes, and students trained as in the paper for as
many epochs over the real images as the teacher, with the pseudo items on top
(ratio 3:1, so 4x the teacher's steps). Variants: centroid sampling off on the
pseudo labels, and the duplicate-real baseline (Table 2b: the real labels
again in place of the pseudo ones, same steps). Crops of 192 keep the whole
study near an hour on a 2-core CPU.
"""
import ml_collections

from configs import demo_selftrain


def get_config():
  c = demo_selftrain.get_config()
  c.train.crop_sizes = (192,)
  c.train.num_epochs = 16
  c.student.train = {'num_epochs': 16}
  c.student.pseudo = {'ratio': 3.0, 'class_uniform_fraction': 1.0}
  c.ablation = ml_collections.ConfigDict({
      'seeds': (0, 1, 2),
      'variants': {
          'no_centroid': {'student': {'pseudo': {'class_uniform_fraction': 0.0}}},
          'duplicate_real': {'student': {'pseudo': {'duplicate_real': True}}},
      },
  })
  return c
