"""The labeled-fraction sweep as the field reports it: test mIoU against the labeled fraction.

  .venv/bin/python benchmarks/fraction_sweep_report.py DIR/ablation.json [MORE.json ...] \
      --json=benchmarks/cpu2_camvid_fraction_sweep.json --plot=benchmarks/cpu2_camvid_fraction_sweep.png

Reads the ablation.json of `stseg_jax.ablation --config=configs/camvid_fraction_sweep.py`
(several: their runs merge, so a sweep continued in a new workdir adds to the
JSON an earlier one wrote; the same run of a fraction and seed in two files
is an error) and writes (1) the JSON with, per fraction, a mechanism table:
per class, the pseudo labels' IoU against the unlabeled frames' truth (all
pixels, and those the student keeps) beside the student's and the plain
student's change of test IoU over the teacher and over the control, per seed
and in the mean; (2) a plot of test mIoU (mean over seeds, bars: min..max)
for teacher, plain student, controlled student, online student,
duplicate-real control, truth ceiling and oracle; (3) the same as markdown on
stdout. Means and paired differences are recomputed from the per-seed
results (stseg_jax.ablation).
"""
import argparse
import json
import os
import sys

import numpy as np

# A script in benchmarks/: the repository's packages are one folder up.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from stseg_jax import ablation  # pylint: disable=wrong-import-position

LINES = (('teacher', 'teacher (labeled frames only)'), ('plain', 'plain student (paper)'),
         ('student', 'student + noise controls'), ('online', 'online student (EMA teacher)'),
         ('online_balanced', 'online, class-balanced selection'),
         ('control', 'duplicate-real control'),
         ('ceiling', 'ceiling (student on true labels)'),
         ('oracle', 'oracle (all 367 labeled)'))
# Differences paired by seed, in the summary table and per class in the mechanism
# table: (run, the run it is compared with). The noise controls one at a time
# (`:controls`) are read against the plain student, and the thresholds against
# their random control.
CHANGES = (('student', 'teacher'), ('student', 'control'), ('plain', 'teacher'),
           ('online', 'control'), ('ceiling', 'control'), ('thresholds', 'plain'),
           ('strong', 'plain'), ('multiscale_labels', 'plain'), ('student', 'random_drop'),
           ('ratio_7', 'ratio_7_control'), ('online', 'teacher'), ('online_balanced', 'teacher'),
           ('online_balanced', 'control'), ('online_balanced', 'online'),
           ('online_balanced', 'student'))


def _mean(values):
  return float(np.mean(values)) if values else float('nan')


def mechanism(at):
  """Per class: pseudo-label IoU and each student's test IoU change, means over seeds."""
  seeds = [s for s in at['seeds'].values() if 'pseudo_quality' in s]
  if not seeds:
    return {}
  classes = list(seeds[0]['runs']['teacher']['test_per_class_iou'])
  rows = {}
  for name in classes:
    def change(run, base):
      return _mean([100 * (s['runs'][run]['test_per_class_iou'][name] -
                           s['runs'][base]['test_per_class_iou'][name])
                    for s in seeds if run in s['runs'] and base in s['runs']])
    quality = lambda f: _mean([100 * s['pseudo_quality']['filters'][f]['per_class_iou'][name]
                               for s in seeds])
    multiscale = _mean([100 * s['variant_pseudo_quality']['multiscale_labels']['filters']['all']
                        ['per_class_iou'][name] for s in seeds
                        if 'multiscale_labels' in s.get('variant_pseudo_quality', {})])
    rows[name] = {'pseudo_iou_all': quality('all'), 'pseudo_iou_kept': quality('class_keep_half'),
                  'pseudo_iou_multiscale': multiscale,
                  'teacher_test_iou': _mean([100 * s['runs']['teacher']['test_per_class_iou'][name]
                                             for s in seeds]),
                  **{f'{run}_minus_{base}': change(run, base) for run, base in CHANGES}}
  return {'seeds': len(seeds), 'classes': rows}


def paired(at):
  """{'run - base': summary over the seeds that have both} of CHANGES, on test."""
  out = {}
  for run, base in CHANGES:
    having = {seed: s['runs'] for seed, s in at['seeds'].items()
              if run in s['runs'] and base in s['runs']}
    if having:
      out[f'{run} - {base}'] = ablation.summary(
          [r[run]['test_miou'] - r[base]['test_miou'] for r in having.values()], list(having))
  return out


def merge(named):
  """One ablation.json of [(path, content)]: fractions, seeds and runs together."""
  out = {'variants': {}, 'fractions': {}}
  for path, result in named:
    out['variants'].update(result.get('variants', {}))
    for key, at in result['fractions'].items():
      into = out['fractions'].setdefault(
          key, {'labeled_fraction': at.get('labeled_fraction'), 'seeds': {}})
      for seed, entry in at['seeds'].items():
        earlier = into['seeds'].get(seed)
        if earlier is None:
          into['seeds'][seed] = entry
          continue
        repeated = sorted(set(earlier['runs']) & set(entry['runs']))
        if repeated:
          raise ValueError(f'{path}: {key} seed {seed} repeats run(s) {", ".join(repeated)} '
                           'of an earlier file')
        commands = earlier.get('earlier_commands', []) + [earlier['command']]
        into['seeds'][seed] = {
            **earlier, **entry, 'runs': {**earlier['runs'], **entry['runs']},
            'earlier_commands': commands + entry.get('earlier_commands', [])}
        labels = {**earlier.get('variant_pseudo_quality', {}),
                  **entry.get('variant_pseudo_quality', {})}
        if labels:
          into['seeds'][seed]['variant_pseudo_quality'] = labels
  for at in out['fractions'].values():
    at['seeds'] = dict(sorted(at['seeds'].items(), key=lambda kv: int(kv[0])))
  # Fewest labels first; a run at the config's own split ('as_configured') last.
  order = lambda kv: (kv[1]['labeled_fraction'] is None, kv[1]['labeled_fraction'] or 0)
  out['fractions'] = dict(sorted(out['fractions'].items(), key=order))
  return out


def plot(result, path):
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  ats = sorted((at for at in result['fractions'].values() if at.get('labeled_fraction')),
               key=lambda at: at['labeled_fraction'])
  fig, ax = plt.subplots(figsize=(9.6, 4.4))
  for run, label in LINES:
    xs, ys, lo, hi = [], [], [], []
    for at in ats:
      s = at.get('test_miou', {}).get(run)
      if s:
        xs.append(at['labeled_fraction'])
        ys.append(100 * s['mean'])
        lo.append(100 * (s['mean'] - min(s['values'])))
        hi.append(100 * (max(s['values']) - s['mean']))
    if xs:
      seeds = '/'.join(str(len(at['test_miou'][run]['values']))
                       for at in ats if run in at.get('test_miou', {}))
      ax.errorbar(xs, ys, yerr=[lo, hi], marker='o', capsize=3, label=f'{label}, seeds {seeds}',
                  linestyle='--' if run == 'oracle' else '-')
  ax.set_xscale('log', base=2)
  ax.set_xticks([at['labeled_fraction'] for at in ats])
  ax.set_xticklabels([f"1/{round(1 / at['labeled_fraction'])}" for at in ats])
  ax.set_xlabel('labeled fraction of the 367 CamVid train frames')
  ax.set_ylabel('test mIoU (%)')
  ax.set_title('CamVid self-training, Fast-SCNN from scratch, 240x320')
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8, loc='upper left', bbox_to_anchor=(1.01, 1))  # off the lines
  fig.tight_layout()
  fig.savefig(path, dpi=120)


def _signed(v):
  return '-' if np.isnan(v) else f'{v:+.1f}'


def markdown(result):
  pct = lambda v: f'{v:.1f}'
  lines = ['| fraction | seeds | ' + ' | '.join(r for r, _ in LINES) + ' |',
           '|---' * (len(LINES) + 2) + '|']
  for key, at in result['fractions'].items():
    t = at.get('test_miou', {})
    cells = [f"{pct(100 * t[r]['mean'])} (n={len(t[r]['values'])})" if r in t else '-'
             for r, _ in LINES]
    lines.append(f"| {key} | {len(at['seeds'])} | " + ' | '.join(cells) + ' |')
  lines += ['', '| fraction | paired on test | mean | per seed |', '|---|---|---|---|']
  for key, at in result['fractions'].items():
    for pair, s in at.get('paired_test', {}).items():
      lines.append(f"| {key} | {pair} | {100 * s['mean']:+.1f} | " +
                   ', '.join(f'{seed}: {100 * v:+.1f}' for seed, v in zip(s['seeds'], s['values']))
                   + ' |')
  for key, at in result['fractions'].items():
    m = at.get('mechanism')
    if not m:
      continue
    rows = m['classes'].values()
    quality = [('pseudo_iou_all', 'pseudo IoU, all'), ('pseudo_iou_kept', 'pseudo IoU, kept'),
               ('pseudo_iou_multiscale', 'pseudo IoU, multi-scale labels'),
               ('teacher_test_iou', 'teacher IoU')]
    columns = [(k, title) for k, title in quality + [
        (f'{run}_minus_{base}', f'{run} - {base}') for run, base in CHANGES]
               if any(not np.isnan(r[k]) for r in rows)]
    lines += ['', f"{key}, per class on test (mean over {m['seeds']} seed(s) with pseudo labels; "
              'a change over the seeds that have both runs):', '',
              '| class | ' + ' | '.join(title for _, title in columns) + ' |',
              '|---' * (1 + len(columns)) + '|']
    for name, r in m['classes'].items():
      cells = [(pct if k in dict(quality) else _signed)(r[k]) for k, _ in columns]
      lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('ablation_json', nargs='+')
  parser.add_argument('--json', default='')
  parser.add_argument('--plot', default='')
  args = parser.parse_args()
  named = []
  for path in args.ablation_json:
    with open(path) as f:
      named.append((path, json.load(f)))
  try:
    result = merge(named)
  except ValueError as e:
    sys.exit(f'fraction_sweep_report: {e}')
  for at in result['fractions'].values():
    at.update(ablation.over_seeds(at['seeds']))  # whichever code version wrote the file
    at['paired_test'] = paired(at)
    at['mechanism'] = mechanism(at)
  if args.json:
    with open(args.json, 'w') as f:
      json.dump(result, f, indent=1)
  if args.plot:
    plot(result, args.plot)
  print(markdown(result))


if __name__ == '__main__':
  main()
