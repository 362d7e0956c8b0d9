"""One table of a finished (or partly finished) `stseg_jax.ablation` workdir.

  .venv/bin/python benchmarks/selftrain_table.py DIR --out=benchmarks/FILE.json

Per seed: the gates, the teacher, the oracle, the 1:1 student and every
variant's student (mIoU and per-class IoU on val), and, where
`stseg_jax.pseudo_quality` has scored the seed's labels, the pseudo labels'
IoU per class against the unlabeled frames' truth. Then the mean over the
seeds that have each run, and per class: teacher, pseudo labels, student,
duplicate-real. Prints markdown; seeds still running are left out of a row.
"""
import argparse
import glob
import json
import os

import numpy as np


def _load(path):
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def seed_runs(seed_dir):
  base = os.path.join(seed_dir, 'self_train')
  runs = {'teacher': _load(os.path.join(base, 'teacher', 'eval.json')),
          'oracle': _load(os.path.join(base, 'oracle', 'eval.json'))}
  for variant in sorted(os.listdir(seed_dir)):
    report = _load(os.path.join(seed_dir, variant, 'report.json'))
    if report:
      runs['student' if variant == 'self_train' else variant] = report['student']
  if not (runs['teacher'] and os.path.exists(os.path.join(base, 'teacher', 'DONE'))):
    runs['teacher'] = None  # eval.json is also written by the intermediate evaluations
  return {k: v for k, v in runs.items() if v}, _load(os.path.join(base, 'gates.json')), \
      _load(os.path.join(base, 'labels', 'pseudo_quality.json'))


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('workdir')
  parser.add_argument('--out', default='')
  args = parser.parse_args()
  seeds = {}
  for seed_dir in sorted(glob.glob(os.path.join(args.workdir, 'seed_*'))):
    runs, gates, quality = seed_runs(seed_dir)
    seeds[os.path.basename(seed_dir)] = {
        'gates': gates, 'pseudo_labels': quality and quality['filters']['all'],
        'pseudo_quality': quality,
        'runs': {k: {'miou': v['miou'], 'per_class_iou': v['per_class_iou']}
                 for k, v in runs.items()}}
  names = []
  for s in seeds.values():
    names += [n for n in s['runs'] if n not in names]
  lines = ['| run | mIoU, mean | seeds | per seed |', '|---|---|---|---|']
  means = {}
  for name in names:
    values = [s['runs'][name]['miou'] * 100 for s in seeds.values() if name in s['runs']]
    means[name] = float(np.mean(values))
    per = ', '.join(f'{v:.1f}' for v in values)
    lines.append(f'| {name} | {np.mean(values):.1f} | {len(values)} | {per} |')
  labels = [s['pseudo_labels']['miou'] * 100 for s in seeds.values() if s['pseudo_labels']]
  if labels:
    lines.append(f'| pseudo labels vs truth (unlabeled frames) | {np.mean(labels):.1f} | '
                 f'{len(labels)} | {", ".join(f"{v:.1f}" for v in labels)} |')
  table = '\n'.join(lines)
  classes = []
  first = next((s for s in seeds.values() if 'teacher' in s['runs']), None)
  if first:
    cols = [n for n in ('teacher', 'student', 'duplicate_real', 'oracle') if n in names]
    classes = ['| class | ' + ' | '.join(cols) + ' | pseudo labels |',
               '|---' * (len(cols) + 2) + '|']
    for c in first['runs']['teacher']['per_class_iou']:
      cells = []
      for n in cols:
        v = [s['runs'][n]['per_class_iou'][c] for s in seeds.values() if n in s['runs']]
        v = [x for x in v if x is not None]
        cells.append(f'{np.mean(v) * 100:.1f}' if v else '-')
      p = [s['pseudo_labels']['per_class_iou'][c] for s in seeds.values()
           if s['pseudo_labels'] and s['pseudo_labels']['per_class_iou'][c] is not None]
      cells.append(f'{np.mean(p) * 100:.1f}' if p else '-')
      classes.append(f'| {c} | ' + ' | '.join(cells) + ' |')
  print(table + '\n\n' + '\n'.join(classes))
  if args.out:
    with open(args.out, 'w') as f:
      json.dump({'workdir': args.workdir, 'mean_miou': means, 'seeds': seeds}, f, indent=1)


if __name__ == '__main__':
  main()
