"""The CamVid self-training controls and noise ablations: `stseg_jax.ablation`.

  python -m stseg_jax.ablation --config=configs/camvid_selftrain_ablation.py --workdir=/tmp/camvid_ab
  python -m stseg_jax.ablation --config=configs/camvid_selftrain_ablation.py:noise --workdir=...

Per seed, configs/camvid_selftrain.py's workflow (teacher, oracle, gates,
pseudo labels, the 1:1 student at the teacher's steps), then students on the
same teacher and labels. `:core` (3 seeds): the duplicate-real baseline at
the student's steps (the real labels again where the pseudo ones were,
sampled as the teacher samples). `:ratios` (seed 0): 1:1 and 3:1 at the
paper's epochs (the teacher's 300: 2x and 4x its steps), each with its
baseline. `:noise` (seed 0): one noise control changed at a time against the
1:1 student.
"""
import ml_collections

from configs import camvid_selftrain

_DUPLICATE = {'pseudo': {'duplicate_real': True}}
_VARIANTS = {
    'core': {
        'duplicate_real': {'student': _DUPLICATE},
    },
    # The paper's ratios at its epochs (the teacher's 300): more steps, each
    # against its own baseline.
    'ratios': {
        'ratio_1_paper_epochs': {'student': {'train': {'num_epochs': 300}}},
        'ratio_1_paper_epochs_duplicate_real': {
            'student': {'train': {'num_epochs': 300}, **_DUPLICATE}},
        'ratio_3': {'student': {'train': {'num_epochs': 300}, 'pseudo': {'ratio': 3.0}}},
        'ratio_3_duplicate_real': {'student': {'train': {'num_epochs': 300},
                                               'pseudo': {'ratio': 3.0, 'duplicate_real': True}}},
    },
    'noise': {
        'no_region_minimum': {'student': {'pseudo': {'centroid_min_pixels': 0}}},
        'confidence_90': {'student': {'pseudo': {'confidence_threshold': 0.9}}},
        'class_keep_half': {'student': {'pseudo': {'class_keep_fraction': 0.5}}},
        'strong_augment': {'student': {'pseudo': {'strong_augment': True}}},
        'uniform_crops': {'student': {'pseudo': {'class_uniform_fraction': 0.0}}},
        # The pilot's finetune: 50 epochs at 1:1 (1,150 steps) at LR 0.01.
        'from_teacher': {'self_training': {'student_from_teacher': True},
                         'student': {'train': {'num_epochs': 50, 'base_lr': 0.01}}},
    },
}


def get_config(arg='core'):
  """`core`, `ratios` or `noise` (or one variant of them, e.g. `class_keep_half`), then
  optionally configs/camvid_selftrain.py's own argument after a comma: `core,sequence`,
  `core,quarter,lite0`."""
  variants, _, base = arg.partition(',')
  singles = {name: {name: v} for group in _VARIANTS.values() for name, v in group.items()}
  if variants not in _VARIANTS and variants not in singles:
    raise ValueError(f'configs/camvid_selftrain_ablation.py:{arg}: one of {sorted(_VARIANTS)} '
                     f'or a single variant of them, {sorted(singles)}')
  c = camvid_selftrain.get_config(base or 'quarter')
  c.ablation = ml_collections.ConfigDict({
      'seeds': (0, 1, 2) if variants == 'core' else (0,),
      'variants': _VARIANTS.get(variants) or singles[variants],
  })
  return c
