"""The self-training ablations on synthetic scenes, 3 seeds: `stseg_jax.ablation`.

  python -m stseg_jax.ablation --config=configs/selftrain_ablation.py --workdir=/tmp/ablation

Per seed, the demo's workflow (configs/demo.py: teacher on 100
labeled scenes, hard labels on 400 unlabeled ones, student at 3:1 with
centroid sampling for 4x the teacher's steps), then two more students on the
same teacher and labels: centroid sampling off on the pseudo labels, and the
duplicate-real baseline (Table 2b: the real labels again in place of the
pseudo ones, same steps). About an hour on a 2-core CPU.
"""
import ml_collections

from configs import demo


def get_config():
  c = demo.get_config()
  c.ablation = ml_collections.ConfigDict({
      'seeds': (0, 1, 2),
      'variants': {
          'no_centroid': {'student': {'pseudo': {'class_uniform_fraction': 0.0}}},
          'duplicate_real': {'student': {'pseudo': {'duplicate_real': True}}},
      },
  })
  return c
