"""The CamVid self-training controls and noise ablations: `stseg_jax.ablation`.

  python -m stseg_jax.ablation --config=configs/camvid_selftrain_ablation.py --workdir=/tmp/camvid_ab
  python -m stseg_jax.ablation --config=configs/camvid_selftrain_ablation.py:noise --workdir=...

Per seed, configs/camvid_selftrain.py's workflow (teacher, oracle, gates,
pseudo labels, the 1:1 student for the teacher's 300 epochs), then students
on the same teacher and labels. `:core` (3 seeds): the duplicate-real
baseline at the student's steps (the real labels again where the pseudo
ones were, sampled as the teacher samples), and 3:1 with its own baseline.
`:noise` (seed 0): one noise control changed at a time against the 1:1
student. About 50 minutes a seed for `:core` on a 2-core CPU.
"""
import ml_collections

from configs import camvid_selftrain

_DUPLICATE = {'pseudo': {'duplicate_real': True}}
_VARIANTS = {
    'core': {
        'duplicate_real': {'student': _DUPLICATE},
        'ratio_3': {'student': {'pseudo': {'ratio': 3.0}}},
        'ratio_3_duplicate_real': {'student': {'pseudo': {'ratio': 3.0, 'duplicate_real': True}}},
    },
    'noise': {
        'no_region_minimum': {'student': {'pseudo': {'centroid_min_pixels': 0}}},
        'confidence_0.9': {'student': {'pseudo': {'confidence_threshold': 0.9}}},
        'class_keep_0.5': {'student': {'pseudo': {'class_keep_fraction': 0.5}}},
        'strong_augment': {'student': {'pseudo': {'strong_augment': True}}},
        'uniform_crops': {'student': {'pseudo': {'class_uniform_fraction': 0.0}}},
        # The pilot's finetune: 100 more epochs (1,100 steps) at LR 0.01.
        'from_teacher': {'self_training': {'student_from_teacher': True},
                         'student': {'train': {'num_epochs': 50, 'base_lr': 0.01}}},
    },
}


def get_config(arg='core'):
  if arg not in _VARIANTS:
    raise ValueError(f'configs/camvid_selftrain_ablation.py:{arg}: one of {sorted(_VARIANTS)}')
  c = camvid_selftrain.get_config()
  c.ablation = ml_collections.ConfigDict({
      'seeds': (0, 1, 2) if arg == 'core' else (0,),
      'variants': _VARIANTS[arg],
  })
  return c
