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


def test_several_files_merge_their_runs_and_a_repeated_run_is_an_error(tmp_path):
  earlier = _ablation()
  later = {'variants': {'ceiling': {}}, 'fractions': {
      'labeled_1_16': {'labeled_fraction': 0.0625, 'seeds': {
          '2': {'command': 'later', 'runs': {'ceiling': _run(0.36, 0.80, 0.40)}}}},
      'labeled_1_8': {'labeled_fraction': 0.125, 'seeds': {
          '0': {'command': 'later', 'runs': {'teacher': _run(0.36, 0.8, 0.4)}}}}}}
  earlier['fractions']['labeled_1_16']['seeds']['2']['command'] = 'earlier'
  merged = report.merge([('a.json', earlier), ('b.json', later)])
  seed2 = merged['fractions']['labeled_1_16']['seeds']['2']
  assert sorted(seed2['runs']) == ['ceiling', 'control', 'student', 'teacher']
  assert seed2['command'] == 'later' and seed2['earlier_commands'] == ['earlier']
  assert 'variant_pseudo_quality' not in seed2  # neither file has a variant's own labels
  assert report.paired(merged['fractions']['labeled_1_16'])['ceiling - control']['values'] == (
      pytest.approx([0.03, 0.05]))
  assert list(merged['fractions']) == ['labeled_1_16', 'labeled_1_8']  # by fraction
  assert list(report.merge([('b.json', later), ('a.json', earlier)])['fractions']) == [
      'labeled_1_16', 'labeled_1_8']

  paths = []
  for name, content in (('a.json', earlier), ('b.json', earlier)):
    (tmp_path / name).write_text(json.dumps(content))
    paths.append(str(tmp_path / name))
  run = subprocess.run([sys.executable, os.path.join(ROOT, 'benchmarks', 'fraction_sweep_report.py'),
                        *paths], capture_output=True, text=True, cwd=tmp_path)
  assert run.returncode != 0
  assert run.stderr.strip().splitlines()[-1] == (
      f'fraction_sweep_report: {paths[1]}: labeled_1_16 seed 0 repeats run(s) '
      'ceiling, control, student, teacher of an earlier file')
