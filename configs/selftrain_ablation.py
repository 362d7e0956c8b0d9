"""The demo's student variants over 3 seeds: `stseg_jax.ablation`.

  python -m stseg_jax.ablation --config=configs/selftrain_ablation.py --workdir=/tmp/ablation

Per seed, the demo's workflow (configs/demo.py: a teacher on 16 labeled
scenes, labels on the other 384, the student with its noise controls and the
duplicate-real control beside it), then two more students on the same
teacher and labels: the paper's plain student (no thresholds, no strong
augmentation) and one without centroid sampling on the pseudo labels.
About 15 minutes on a 2-core CPU.
"""
import ml_collections

from configs import demo

_NO_CONTROL = {'duplicate_real_control': False}  # one control per seed: the demo's


def get_config():
  c = demo.get_config()
  c.ablation = ml_collections.ConfigDict({
      'seeds': (0, 1, 2),
      'variants': {
          'plain': {'student': {'pseudo': {'strong_augment': False, 'class_keep_fraction': 0.0}},
                    'self_training': _NO_CONTROL},
          'no_centroid': {'student': {'pseudo': {'class_uniform_fraction': 0.0}},
                          'self_training': _NO_CONTROL},
      },
  })
  return c
