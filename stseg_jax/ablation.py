"""Self-training ablations over seeds and labeled fractions: one teacher per seed, variants beside it.

  python -m stseg_jax.ablation --config=configs/selftrain_ablation.py --workdir=DIR

For each labeled fraction of `ablation.labeled_fractions` (none: the config's
own split, in DIR itself) and each seed of `ablation.seeds` (with
`ablation.seed_splits`, the seed draws the labeled frames too),
DIR/labeled_<f>/seed_<s>/self_train/ is the whole self-training run
(stseg_jax.self_train: teacher, gates, pseudo labels, student, control). Each
variant of `ablation.variants` ({name: overrides of the student's fields};
`ablation.only`, where a config has it, picks some by name) runs in
.../seed_<s>/<name>/ on links to that run's teacher and pseudo labels, so
those are made once and every variant is compared with the same teacher (a
variant that changes the labelling recipe, `pseudo_label`, labels again).
The oracle (every label of self_training.oracle_split) does not depend on the
fraction: one per seed in DIR/seed_<s>/oracle, linked into every fraction.
Stages skip themselves when complete, so a rerun continues, and more seeds or
fractions can be added to a finished ablation.

Writes DIR/ablation.json and DIR/ablation.md, keeping the fractions and seeds
of earlier runs in DIR: per fraction and seed, the command that ran it, every
run's mIoU on the eval split and on data.test_split (keys `miou`,
`test_miou`, per class too), the gates, and with `ablation.pseudo_quality`
the pseudo labels scored against the unlabeled images' truth
(stseg_jax.pseudo_quality); per fraction, mean and spread over seeds, and
differences paired by seed (student - teacher, student - control, ...).
"""
import fractions
import json
import os
import sys

from etils import epath
import jax
import numpy as np

from stseg_jax import cli
from stseg_jax import config_check
from stseg_jax import errors
from stseg_jax import pseudo_quality
from stseg_jax import self_train
from stseg_jax import stages
from stseg_jax import workdir as workdir_lib

# Overrides may only touch what the teacher does not read, or the shared teacher
# would belong to another config; a variant that changes the labelling recipe
# (pseudo_label) labels the unlabeled images again with the shared teacher.
VARIANT_SECTIONS = ('student', 'self_training', 'finetune', 'pseudo_label')
SHARED_STAGES = ('teacher', 'oracle', 'labels')
# The runs of a self_train report, besides the variants' students.
REPORT_RUNS = ('teacher', 'student', 'control', 'oracle')


def variant_config(config, overrides, name):
  bad = [k for k in overrides if k not in VARIANT_SECTIONS]
  if bad:
    raise errors.ConfigError(
        f'config.ablation.variants.{name}: overrides {bad}; only {VARIANT_SECTIONS} can change '
        'while the teacher is shared')
  return stages.merged(config, overrides)


def chosen_variants(ablation_config):
  """{name: overrides} of the variants to run: all, or those `ablation.only` names."""
  variants = dict(ablation_config.variants.items())
  only = tuple(ablation_config.get('only', ()))
  unknown = [name for name in only if name not in variants]
  if unknown:
    raise errors.ConfigError(f'config.ablation.only: {unknown} are not among the variants '
                             f'{sorted(variants)}')
  return {name: v for name, v in variants.items() if not only or name in only}


def _link(target, link):
  """`link` -> `target` (relative, made if missing), unless `link` exists."""
  os.makedirs(target, exist_ok=True)
  if not os.path.lexists(link):
    os.makedirs(os.path.dirname(link), exist_ok=True)
    os.symlink(os.path.relpath(target, os.path.dirname(link)), link)


def own_labels(overrides):
  """Whether a variant with these overrides labels the unlabeled images itself."""
  return 'pseudo_label' in overrides


def link_shared_stages(base_dir, variant_dir, overrides):
  os.makedirs(variant_dir, exist_ok=True)
  for stage in SHARED_STAGES:
    if not (stage == 'labels' and own_labels(overrides)):
      _link(os.path.join(base_dir, 'self_train', stage), os.path.join(variant_dir, stage))


def fraction_name(fraction):
  """'labeled_1_16' for 0.0625: the folder of a fraction's runs."""
  f = fractions.Fraction(fraction).limit_denominator(1000)
  return f'labeled_{f.numerator}_{f.denominator}'


def summary(values, seeds):
  values = np.asarray(values, np.float64)
  return {'mean': float(values.mean()), 'std': float(values.std(ddof=1)) if len(values) > 1
          else 0.0, 'values': values.tolist(), 'seeds': list(seeds)}


def _scores(report, name):
  """A run's mIoU on the eval split and the test split, and per class, from a report."""
  out = {'miou': report[name]['miou'], 'per_class_iou': report[name]['per_class_iou']}
  if 'test' in report:
    out.update(test_miou=report['test'][name]['miou'],
               test_per_class_iou=report['test'][name]['per_class_iou'])
  return out


def _label_quality(config, labels_dir):
  """pseudo_quality of the seed's labels (computed once, then read), in short."""
  path = epath.Path(labels_dir) / 'pseudo_quality.json'
  quality = (json.loads(path.read_text()) if path.exists() else
             pseudo_quality.run(config, labels_dir))
  keep = ('miou', 'pixel_accuracy', 'kept_fraction', 'per_class_iou')
  return {'filters': {name: {k: f[k] for k in keep} for name, f in quality['filters'].items()},
          'centroids': quality['centroids']}


def run_seed(config, seed, seed_dir, oracle_dir=None):
  """One seed's self-training run and its variants; {run: scores}, gates, label quality.
  A variant is the seed's run (its seed, labeled fraction and split) with its overrides."""
  base = config.copy_and_resolve_references()
  base.seed = seed
  if config.ablation.get('seed_splits'):  # a seed draws its own labeled frames too
    base.data.split_seed = seed
  run_dir = os.path.join(seed_dir, 'self_train')
  if oracle_dir and base.self_training.oracle_split:
    _link(oracle_dir, os.path.join(run_dir, 'oracle'))
  report = self_train.run(base, run_dir)
  out = {'runs': {name: _scores(report, name) for name in REPORT_RUNS if name in report},
         'gates': report.get('gates')}
  quality = config.ablation.get('pseudo_quality')
  for name, overrides in chosen_variants(config.ablation).items():
    variant = variant_config(base, overrides, name)
    variant_dir = os.path.join(seed_dir, name)
    link_shared_stages(seed_dir, variant_dir, overrides)
    out['runs'][name] = _scores(self_train.run(variant, variant_dir), 'student')
    if quality and own_labels(overrides):
      out.setdefault('variant_pseudo_quality', {})[name] = _label_quality(
          variant, os.path.join(variant_dir, 'labels'))
  if quality and os.path.isdir(os.path.join(run_dir, 'labels')):
    out['pseudo_quality'] = _label_quality(base, os.path.join(run_dir, 'labels'))
  return out


def over_seeds(per_seed):
  """Mean and spread of every run's scores over the seeds that have it, and
  differences paired by seed over the seeds that have both runs (a run added
  later, e.g. a variant, counts as soon as one seed has it; `seeds` says which)."""
  names = list(dict.fromkeys(n for s in per_seed.values() for n in s['runs']))
  pairs = [(n, 'teacher') for n in names if n != 'teacher']
  pairs += [(n, 'control') for n in names if 'control' in names and n not in
            ('teacher', 'control', 'oracle')]
  out, paired = {}, {}
  for k in ('miou', 'test_miou'):
    scores = {seed: {n: r[k] for n, r in s['runs'].items() if k in r}
              for seed, s in per_seed.items()}
    if not any(scores.values()):
      continue
    out[k] = _summaries({n: {seed: v[n] for seed, v in scores.items() if n in v}
                         for n in names})
    paired[k] = _summaries({f'{a} - {b}': {seed: v[a] - v[b] for seed, v in scores.items()
                                           if a in v and b in v} for a, b in pairs})
  return {**out, 'paired': paired}


def _summaries(by_name):
  """{name: summary} of {name: {seed: value}}; a name no seed has is left out."""
  return {name: summary(list(values.values()), list(values))
          for name, values in by_name.items() if values}


def _merged(earlier, command, fresh):
  """A seed's results: this run's, plus the runs of earlier commands it did not
  repeat (e.g. a variant run once, then the online student added)."""
  if not earlier:
    return {'command': command, **fresh}
  commands = earlier.get('earlier_commands', []) + [earlier['command']]
  out = {'command': command, 'earlier_commands': [c for c in commands if c != command],
         **fresh, 'runs': {**earlier['runs'], **fresh['runs']}}
  labels = {**earlier.get('variant_pseudo_quality', {}), **fresh.get('variant_pseudo_quality', {})}
  if labels:
    out['variant_pseudo_quality'] = labels
  return out


def _earlier_results(workdir):
  """ablation.json of earlier commands in this workdir (other seeds, fractions or variants)."""
  path = epath.Path(workdir) / 'ablation.json'
  return json.loads(path.read_text()) if path.exists() else {}


def run(config, workdir):
  config_check.validate(config)
  for name, overrides in chosen_variants(config.ablation).items():
    variant_config(config, overrides, name)  # a bad override fails now, not after a teacher
  labeled_fractions = tuple(config.ablation.get('labeled_fractions', ()))
  fresh = {}  # (fraction key, seed): (fraction, this command's results)
  for fraction in labeled_fractions or (None,):
    at_fraction = config.copy_and_resolve_references()
    if fraction is None:
      key, fraction_dir = 'as_configured', workdir
    else:
      at_fraction.data.labeled_fraction = fraction
      key, fraction_dir = fraction_name(fraction), os.path.join(workdir, fraction_name(fraction))
    for seed in config.ablation.seeds:
      oracle = os.path.join(workdir, f'seed_{seed}', 'oracle') if fraction is not None else None
      fresh[key, str(seed)] = fraction, run_seed(
          at_fraction, seed, os.path.join(fraction_dir, f'seed_{seed}'), oracle)
  # Read only now: another command in this workdir (another seed or variant) may
  # have written its results while this one trained.
  variants = {name: v.to_dict() for name, v in chosen_variants(config.ablation).items()}
  result = _with(_earlier_results(workdir), variants, fresh,
                 ' '.join(sys.argv))
  if jax.process_index() == 0:
    workdir_lib.write_json(os.path.join(workdir, 'ablation.json'), result, indent=2)
    workdir_lib.write_text(os.path.join(workdir, 'ablation.md'), markdown(result))
    print(markdown(result), flush=True)
  return result


def _with(earlier, variants, fresh, command):
  """ablation.json's content: `earlier`'s, plus this command's variants and `fresh` results."""
  fractions = earlier.get('fractions', {})
  for (key, seed), (fraction, results) in fresh.items():
    at = fractions.setdefault(key, {'labeled_fraction': fraction, 'seeds': {}})
    at['seeds'][seed] = _merged(at['seeds'].get(seed), command, results)
  for at in fractions.values():  # earlier fractions too: summaries of this code
    at['seeds'] = dict(sorted(at['seeds'].items(), key=lambda kv: int(kv[0])))
    at.update(over_seeds(at['seeds']))
  return {'variants': {**earlier.get('variants', {}), **variants}, 'fractions': fractions}


def markdown(result):
  pct = lambda v: f'{100 * v:.1f}'
  lines = []
  for key, at in result['fractions'].items():
    seeds = list(at['seeds'])
    has_test = 'test_miou' in at
    lines += [f'{key}, seeds {", ".join(seeds)}:', '',
              '| run | mIoU, mean | std | per seed |' +
              (' test mIoU, mean | std | per seed |' if has_test else ''),
              '|---|---|---|---|' + ('---|---|---|' if has_test else '')]
    per_seed = lambda s: ', '.join(f'{seed}: {pct(v)}' for seed, v in zip(s['seeds'], s['values']))
    for name, s in at['miou'].items():
      row = f"| {name} | {pct(s['mean'])} | {pct(s['std'])} | {per_seed(s)} |"
      if has_test:
        t = at['test_miou'][name]
        row += f" {pct(t['mean'])} | {pct(t['std'])} | {per_seed(t)} |"
      lines.append(row)
    lines += ['', '| paired by seed | mIoU, mean | std |' + (' test, mean | std |' if has_test
                                                           else ''),
              '|---|---|---|' + ('---|---|' if has_test else '')]
    for pair, s in at['paired']['miou'].items():
      row = f"| {pair} (seeds {', '.join(s['seeds'])}) | {100 * s['mean']:+.1f} | {pct(s['std'])} |"
      if has_test:
        t = at['paired']['test_miou'][pair]
        row += f" {100 * t['mean']:+.1f} | {pct(t['std'])} |"
      lines.append(row)
    lines.append('')
  return '\n'.join(lines)


if __name__ == '__main__':
  cli.run(run, "Where the seeds' runs and ablation.json go.")
