"""Self-training ablations over seeds: one teacher per seed, student variants beside it.

  python -m stseg_jax.ablation --config=configs/selftrain_ablation.py --workdir=DIR

For each seed of `ablation.seeds`, DIR/seed_<s>/self_train/ is the whole
self-training run (stseg_jax.self_train: teacher, pseudo labels, student). Each
variant of `ablation.variants` ({name: overrides of the student's fields})
runs in DIR/seed_<s>/<name>/ on links to that seed's teacher and pseudo labels,
so those are made once per seed and every variant is compared with the same
teacher. Stages skip themselves when complete, so a rerun continues. Writes
DIR/ablation.json and DIR/ablation.md: mIoU of the teacher and of each student
per seed, with mean and standard deviation over seeds.
"""
import json
import os

from etils import epath
import jax
import numpy as np

from stseg_jax import cli
from stseg_jax import config_check
from stseg_jax import errors
from stseg_jax import self_train

# Overrides may only touch what the teacher does not see, or the shared teacher
# and labels would belong to another config.
STUDENT_ONLY = ('student', 'self_training', 'finetune')
SHARED_STAGES = ('teacher', 'oracle', 'labels')


def variant_config(config, overrides, name):
  bad = [k for k in overrides if k not in STUDENT_ONLY]
  if bad:
    raise errors.ConfigError(
        f'config.ablation.variants.{name}: overrides {bad}; only {STUDENT_ONLY} can change '
        'while the teacher and its pseudo labels are shared')
  return self_train.merged(config, overrides)


def link_shared_stages(base_dir, variant_dir):
  os.makedirs(variant_dir, exist_ok=True)
  for stage in SHARED_STAGES:
    link = os.path.join(variant_dir, stage)
    if not os.path.lexists(link):
      os.symlink(os.path.join('..', 'self_train', stage), link)


def summary(values):
  values = np.asarray(values, np.float64)
  return {'mean': float(values.mean()), 'std': float(values.std(ddof=1)) if len(values) > 1
          else 0.0, 'values': values.tolist()}


def run(config, workdir):
  config_check.validate(config)
  variants = {name: variant_config(config, overrides, name)
              for name, overrides in config.ablation.variants.items()}
  runs = {'teacher': [], 'student': [], **{name: [] for name in variants}}
  for seed in config.ablation.seeds:
    seed_dir = os.path.join(workdir, f'seed_{seed}')
    base = config.copy_and_resolve_references()
    base.seed = seed
    report = self_train.run(base, os.path.join(seed_dir, 'self_train'))
    runs['teacher'].append(report['teacher']['miou'])
    runs['student'].append(report['student']['miou'])
    for name, variant in variants.items():
      variant = variant.copy_and_resolve_references()
      variant.seed = seed
      variant_dir = os.path.join(seed_dir, name)
      link_shared_stages(seed_dir, variant_dir)
      runs[name].append(self_train.run(variant, variant_dir)['student']['miou'])
  result = {'seeds': list(config.ablation.seeds),
            'variants': config.ablation.variants.to_dict(),
            'miou': {name: summary(values) for name, values in runs.items()}}
  if jax.process_index() == 0:
    (epath.Path(workdir) / 'ablation.json').write_text(json.dumps(result, indent=2))
    (epath.Path(workdir) / 'ablation.md').write_text(markdown(result))
    print(markdown(result), flush=True)
  return result


def markdown(result):
  pct = lambda v: f'{100 * v:.1f}'
  lines = [f"| run | mIoU, mean over seeds {result['seeds']} | std | per seed |",
           '|---|---|---|---|']
  for name, s in result['miou'].items():
    lines.append(f"| {name} | {pct(s['mean'])} | {pct(s['std'])} | "
                 f"{', '.join(pct(v) for v in s['values'])} |")
  return '\n'.join(lines) + '\n'


if __name__ == '__main__':
  cli.run(run, "Where the seeds' runs and ablation.json go.")
