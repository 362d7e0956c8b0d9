"""benchmarks/fraction_sweep_report.py on a hand-made ablation.json: paired differences over
the seeds that have both runs, the per-class mechanism table, and the command line."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'benchmarks'))
import fraction_sweep_report as report  # pylint: disable=g-import-not-at-top,wrong-import-position


def _run(test_miou, road, sidewalk):
  return {'miou': test_miou + 0.1, 'test_miou': test_miou,
          'test_per_class_iou': {'road': road, 'sidewalk': sidewalk}}


def _quality(road, sidewalk):
  scores = {'per_class_iou': {'road': road, 'sidewalk': sidewalk}}
  return {'filters': {'all': scores, 'class_keep_half': scores}}


def _ablation():
  seed0 = {'runs': {'teacher': _run(0.30, 0.70, 0.30), 'student': _run(0.34, 0.80, 0.20),
                    'control': _run(0.35, 0.75, 0.40), 'ceiling': _run(0.38, 0.82, 0.45)},
           'pseudo_quality': _quality(0.90, 0.40)}
  seed2 = {'runs': {'teacher': _run(0.32, 0.72, 0.32), 'student': _run(0.33, 0.74, 0.30),
                    'control': _run(0.31, 0.70, 0.34)},
           'pseudo_quality': _quality(0.80, 0.50)}
  return {'variants': {}, 'fractions': {'labeled_1_16': {
      'labeled_fraction': 0.0625, 'seeds': {'0': seed0, '2': seed2}}}}


def test_pairs_and_mechanism_by_hand():
  at = _ablation()['fractions']['labeled_1_16']
  paired = report.paired(at)
  assert paired['student - control']['values'] == pytest.approx([-0.01, 0.02])
  assert paired['student - control']['seeds'] == ['0', '2']
  assert paired['ceiling - control']['seeds'] == ['0']  # seed 2 has no ceiling
  assert paired['ceiling - control']['mean'] == pytest.approx(0.03)
  assert 'thresholds - plain' not in paired
  rows = report.mechanism(at)['classes']
  assert rows['sidewalk']['pseudo_iou_all'] == pytest.approx(45.0)  # (40 + 50) / 2
  assert rows['sidewalk']['student_minus_control'] == pytest.approx(-12.0)  # (-20 + -4) / 2
  assert rows['road']['ceiling_minus_control'] == pytest.approx(7.0)
  assert np.isnan(rows['road']['pseudo_iou_multiscale'])


def test_the_command_writes_the_json_and_prints_only_columns_with_data(tmp_path):
  path = tmp_path / 'ablation.json'
  path.write_text(json.dumps(_ablation()))
  out = subprocess.run([sys.executable, os.path.join(ROOT, 'benchmarks', 'fraction_sweep_report.py'),
                        str(path), f'--json={tmp_path / "sweep.json"}'],
                       capture_output=True, text=True, check=True, cwd=tmp_path).stdout
  assert '| labeled_1_16 | student - control | +0.5 | 0: -1.0, 2: +2.0 |' in out
  assert 'ceiling - control' in out and 'multi-scale' not in out and 'thresholds' not in out
  written = json.load(open(tmp_path / 'sweep.json'))['fractions']['labeled_1_16']
  assert written['test_miou']['teacher']['values'] == pytest.approx([0.30, 0.32])
  assert written['mechanism']['seeds'] == 2
