"""The ablation's summaries by hand: fraction folders, means over seeds, differences paired by
seed, the gates judged on a split of their own, and variants at the fraction they run."""
import json
import os

import pytest

from configs import camvid_fraction_sweep
from configs import tiny
from stseg_jax import ablation
from stseg_jax import errors
from stseg_jax import gates


def _seed(teacher, student, control, test_shift=0.0):
  run = lambda v: {'miou': v, 'test_miou': v + test_shift}
  return {'runs': {'teacher': run(teacher), 'student': run(student), 'control': run(control)}}


def test_fraction_folders():
  assert ablation.fraction_name(1 / 16) == 'labeled_1_16'
  assert ablation.fraction_name(0.25) == 'labeled_1_4'


def test_means_and_differences_paired_by_seed():
  summary = ablation.over_seeds({'0': _seed(0.30, 0.34, 0.33, -0.1),
                                  '1': _seed(0.40, 0.41, 0.42, -0.1)})
  assert summary['miou']['student']['values'] == [0.34, 0.41]
  assert summary['miou']['student']['mean'] == pytest.approx(0.375)
  assert summary['miou']['student']['std'] == pytest.approx(0.0494975, abs=1e-6)  # sample std
  paired = summary['paired']['test_miou']
  assert paired['student - teacher']['values'] == pytest.approx([0.04, 0.01])
  assert paired['student - control']['values'] == pytest.approx([0.01, -0.01])
  assert 'control - control' not in paired and 'teacher - teacher' not in paired


def test_a_run_only_some_seeds_have_is_summarised_over_those_seeds():
  per_seed = {'0': _seed(0.30, 0.34, 0.33), '1': _seed(0.40, 0.41, 0.42),
              '2': _seed(0.50, 0.52, 0.50)}
  per_seed['0']['runs']['online'] = {'miou': 0.36, 'test_miou': 0.26}
  per_seed['2']['runs']['online'] = {'miou': 0.53, 'test_miou': 0.43}
  summary = ablation.over_seeds(per_seed)
  assert summary['miou']['teacher']['seeds'] == ['0', '1', '2']
  assert summary['miou']['online']['seeds'] == ['0', '2']
  assert summary['miou']['online']['mean'] == pytest.approx(0.445)
  online = summary['paired']['miou']['online - control']
  assert online['seeds'] == ['0', '2'] and online['values'] == pytest.approx([0.03, 0.03])
  assert summary['paired']['test_miou']['online - teacher']['values'] == pytest.approx([-0.04, -0.07])


def test_the_gates_compare_teacher_and_oracle_on_the_gate_split(tmp_path):
  config = tiny.get_config()
  config.self_training.gate_split = 'test'
  teacher, oracle = tmp_path / 'teacher', tmp_path / 'oracle'
  teacher.mkdir()
  with open(teacher / 'metrics.jsonl', 'w') as f:  # flat over the last third: a plateau
    for step, miou in ((100, 0.2), (200, 0.30), (300, 0.305)):
      f.write(json.dumps({'step': step, 'eval_miou': miou}) + '\n')
  scores = {(str(teacher), 'val'): 0.30, (str(teacher), 'train'): 0.50,
            (str(teacher), 'test'): 0.20, (str(oracle), 'test'): 0.25}
  result = gates.check(config, str(tmp_path), str(teacher),
                       lambda run, split: scores[(run, split)], str(oracle))
  assert result['plateaued'] and result['train_minus_val_points'] == pytest.approx(20)
  assert result['gate_split'] == 'test' and result['teacher_gate_miou'] == 0.20
  assert result['oracle_minus_teacher_points'] == pytest.approx(5)
  assert result['oracle_clearly_better']
  assert json.load(open(tmp_path / 'gates.json')) == result


def test_gates_made_without_the_oracle_are_incomplete_once_it_exists(tmp_path):
  config = tiny.get_config()
  teacher = tmp_path / 'teacher'
  teacher.mkdir()
  (teacher / 'metrics.jsonl').write_text(json.dumps({'step': 100, 'eval_miou': 0.3}) + '\n')
  assert not gates.complete(str(tmp_path), with_oracle=False)  # no gates.json yet
  gates.check(config, str(tmp_path), str(teacher), lambda run, split: 0.3)
  assert gates.complete(str(tmp_path), with_oracle=False)
  assert not gates.complete(str(tmp_path), with_oracle=True)
  gates.check(config, str(tmp_path), str(teacher), lambda run, split: 0.3, str(tmp_path / 'oracle'))
  assert gates.complete(str(tmp_path), with_oracle=True)


def test_results_merge_with_what_another_command_wrote_meanwhile():
  earlier = {'variants': {'online': {'x': 1}},
             'fractions': {'labeled_1_16': {'labeled_fraction': 0.0625, 'seeds': {
                 '0': {'command': 'a', **_seed(0.30, 0.34, 0.33)}}}}}
  earlier['fractions']['labeled_1_16']['seeds']['0']['runs']['online'] = {'miou': 0.35}
  fresh = {('labeled_1_16', '2'): (0.0625, _seed(0.50, 0.52, 0.50)),
           ('labeled_1_16', '0'): (0.0625, {'runs': {'ceiling': {'miou': 0.45}}})}
  result = ablation._with(earlier, {'ceiling': {'y': 2}}, fresh, 'b')
  assert result['variants'] == {'online': {'x': 1}, 'ceiling': {'y': 2}}
  at = result['fractions']['labeled_1_16']
  assert list(at['seeds']) == ['0', '2']
  assert set(at['seeds']['0']['runs']) == {'teacher', 'student', 'control', 'online', 'ceiling'}
  assert at['seeds']['0']['command'] == 'b' and at['seeds']['0']['earlier_commands'] == ['a']
  assert at['miou']['teacher']['seeds'] == ['0', '2']
  assert at['paired']['miou']['ceiling - control']['values'] == pytest.approx([0.12])


def test_every_variant_runs_at_the_fraction_and_seed_of_the_teacher_it_shares(tmp_path,
                                                                            monkeypatch):
  # The bug this guards against: variants were built once from the config as
  # loaded (its own labeled fraction), so at another fraction a variant trained
  # on more labeled frames than the teacher and control beside it.
  config = camvid_fraction_sweep.get_config('online_balanced')
  config.ablation.labeled_fractions = (1 / 16,)
  config.ablation.seeds = (2,)
  config.ablation.pseudo_quality = False
  config.data.root = str(tmp_path)  # no data is read: every run is faked
  assert config.data.labeled_fraction != 1 / 16
  ran = {}

  def fake_run(run_config, workdir):
    ran[os.path.relpath(workdir, tmp_path)] = run_config
    scores = {'miou': 0.5, 'per_class_iou': {}}
    return {'teacher': scores, 'student': scores, 'control': scores}

  monkeypatch.setattr(ablation.self_train, 'run', fake_run)
  ablation.run(config, str(tmp_path))
  assert set(ran) == {'labeled_1_16/seed_2/self_train', 'labeled_1_16/seed_2/online_balanced'}
  for run_config in ran.values():
    assert run_config.data.labeled_fraction == 1 / 16
    assert run_config.seed == run_config.data.split_seed == 2
  variant = ran['labeled_1_16/seed_2/online_balanced']
  assert variant.self_training.mode == 'online'
  assert variant.student.pseudo.online_class_keep_fraction == 0.5


def test_only_runs_the_variants_it_names_and_an_unknown_name_fails_first(tmp_path, monkeypatch):
  config = camvid_fraction_sweep.get_config('controls')
  config.ablation.labeled_fractions = (1 / 16,)
  config.ablation.pseudo_quality = False
  config.data.root = str(tmp_path)  # no data is read: every run is faked
  ran = []

  def fake_run(run_config, workdir):
    ran.append(os.path.relpath(workdir, tmp_path))
    scores = {'miou': 0.5, 'per_class_iou': {}}
    return {'teacher': scores, 'student': scores, 'control': scores}

  monkeypatch.setattr(ablation.self_train, 'run', fake_run)
  config.ablation.only = ('thresholds', 'nope')
  with pytest.raises(errors.ConfigError, match=r"config.ablation.only: \['nope'\]"):
    ablation.run(config, str(tmp_path))
  assert not ran
  config.ablation.only = ('thresholds',)
  result = ablation.run(config, str(tmp_path))
  assert ran == ['labeled_1_16/seed_0/self_train', 'labeled_1_16/seed_0/thresholds']
  assert list(result['variants']) == ['thresholds']
  # Overrides merge field by field: the student's other pseudo fields stay.
  pseudo = ablation.variant_config(config, ablation.chosen_variants(config.ablation)['thresholds'],
                                   'thresholds').student.pseudo
  assert pseudo.strong_augment is False and pseudo.ratio == 1.0
