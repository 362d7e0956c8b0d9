"""The labeled-fraction sweep as the field reports it: test mIoU against the labeled fraction.

  .venv/bin/python benchmarks/fraction_sweep_report.py DIR/ablation.json \
      --json=benchmarks/cpu2_camvid_fraction_sweep.json --plot=benchmarks/cpu2_camvid_fraction_sweep.png

Reads the ablation.json of `stseg_jax.ablation --config=configs/camvid_fraction_sweep.py`
and writes (1) the JSON with, per fraction, a mechanism table: per class, the
pseudo labels' IoU against the unlabeled frames' truth (all pixels, and those
the student keeps) beside the student's and the plain student's change of
test IoU over the teacher and over the control, per seed and in the mean;
(2) a plot of test mIoU (mean over seeds, bars: min..max) for teacher,
plain student, controlled student, online student, duplicate-real control,
truth ceiling and oracle; (3) the same as markdown on stdout. Means and
paired differences are recomputed from the per-seed results (stseg_jax.ablation).
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
         ('control', 'duplicate-real control'),
         ('ceiling', 'ceiling (student on true labels)'),
         ('oracle', 'oracle (all 367 labeled)'))
# Per-class changes of the mechanism table: (run, the run it is compared with).
CHANGES = (('student', 'teacher'), ('student', 'control'), ('plain', 'teacher'),
           ('online', 'control'), ('ceiling', 'control'))
# Paired differences of the summary table.
PAIRS = ('student - teacher', 'student - control', 'online - control', 'ceiling - control')


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
    rows[name] = {'pseudo_iou_all': quality('all'), 'pseudo_iou_kept': quality('class_keep_half'),
                  'teacher_test_iou': _mean([100 * s['runs']['teacher']['test_per_class_iou'][name]
                                             for s in seeds]),
                  **{f'{run}_minus_{base}': change(run, base) for run, base in CHANGES}}
  return {'seeds': len(seeds), 'classes': rows}


def plot(result, path):
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  ats = sorted((at for at in result['fractions'].values() if at.get('labeled_fraction')),
               key=lambda at: at['labeled_fraction'])
  fig, ax = plt.subplots(figsize=(6.4, 4.4))
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
      seeds = max(len(at['test_miou'][run]['values']) for at in ats if run in at['test_miou'])
      ax.errorbar(xs, ys, yerr=[lo, hi], marker='o', capsize=3, label=f'{label}, {seeds} seed(s)',
                  linestyle='--' if run == 'oracle' else '-')
  ax.set_xscale('log', base=2)
  ax.set_xticks([at['labeled_fraction'] for at in ats])
  ax.set_xticklabels([f"1/{round(1 / at['labeled_fraction'])}" for at in ats])
  ax.set_xlabel('labeled fraction of the 367 CamVid train frames')
  ax.set_ylabel('test mIoU (%)')
  ax.set_title('CamVid self-training, Fast-SCNN from scratch, 240x320')
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=120)


def _signed(v):
  return '-' if np.isnan(v) else f'{v:+.1f}'


def markdown(result):
  pct = lambda v: f'{v:.1f}'
  lines = ['| fraction | seeds | ' + ' | '.join(r for r, _ in LINES) + ' | ' + ' | '.join(PAIRS) +
           ' |', '|---' * (len(LINES) + len(PAIRS) + 2) + '|']
  for key, at in result['fractions'].items():
    t = at.get('test_miou', {})
    cells = [f"{pct(100 * t[r]['mean'])} (n={len(t[r]['values'])})" if r in t else '-'
             for r, _ in LINES]
    paired = at.get('paired', {}).get('test_miou', {})
    diff = lambda k: (f"{100 * paired[k]['mean']:+.1f} ({', '.join(f'{100 * v:+.1f}' for v in paired[k]['values'])})"
                      if k in paired else '-')
    lines.append(f"| {key} | {len(at['seeds'])} | " + ' | '.join(cells) + ' | ' +
                 ' | '.join(diff(k) for k in PAIRS) + ' |')
  for key, at in result['fractions'].items():
    m = at.get('mechanism')
    if not m:
      continue
    lines += ['', f"{key}, per class on test (mean over {m['seeds']} seed(s) with pseudo labels; "
              'a change over the seeds that have both runs):', '',
              '| class | pseudo IoU, all | pseudo IoU, kept | teacher IoU | ' +
              ' | '.join(f'{run} - {base}' for run, base in CHANGES) + ' |',
              '|---' * (4 + len(CHANGES)) + '|']
    for name, r in m['classes'].items():
      lines.append(f"| {name} | {pct(r['pseudo_iou_all'])} | {pct(r['pseudo_iou_kept'])} | "
                   f"{pct(r['teacher_test_iou'])} | " +
                   ' | '.join(_signed(r[f'{run}_minus_{base}']) for run, base in CHANGES) + ' |')
  return '\n'.join(lines)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('ablation_json')
  parser.add_argument('--json', default='')
  parser.add_argument('--plot', default='')
  args = parser.parse_args()
  with open(args.ablation_json) as f:
    result = json.load(f)
  for at in result['fractions'].values():
    at.update(ablation.over_seeds(at['seeds']))  # whichever code version wrote the file
    at['mechanism'] = mechanism(at)
  if args.json:
    with open(args.json, 'w') as f:
      json.dump(result, f, indent=1)
  if args.plot:
    plot(result, args.plot)
  print(markdown(result))


if __name__ == '__main__':
  main()
