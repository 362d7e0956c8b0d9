"""The self-training workflow: teacher, pseudo labels, student, report (Fig. 1).

  python -m stseg_jax.self_train --config=configs/demo.py --workdir=DIR

Runs the stages of stseg_jax/stages.py, each in its own folder of DIR and
each skipped when complete under the same config (a rerun under another
stops naming the change), so rerunning after a crash continues where it
stopped: teacher/, oracle/ and the gates, labels/, student/ (or
student_pretrain/ then student/), control/, target_from_*/. Then the teacher,
the student, and the control and oracle where they ran are evaluated on the
same split (and on data.test_split): DIR/report.json, DIR/report.md, miou.png.

The config is a training config for the teacher plus `config.student`, a
partial config whose fields override the teacher's for the student. Its
model may differ, as in the paper's Table 3: a `student.model` naming another
network is the student's whole model section.
"""
import json
import os
import time

from absl import logging
from etils import epath
import jax
import ml_collections

from stseg_jax import cli
from stseg_jax import config_check
from stseg_jax import errors
from stseg_jax import evaluate
from stseg_jax import gates
from stseg_jax import metric_writer
from stseg_jax import pseudo_label
from stseg_jax import stages as stages_lib
from stseg_jax import train
from stseg_jax import visualize
from stseg_jax import workdir as workdir_lib
from stseg_jax.data import mixture
from stseg_jax.data import sources


# What the workflow does around a stage, not what the stage trains or labels (a
# stage's own config has its student or target fields merged in already): an
# ablation's variants share a teacher whose config differs there.
WORKFLOW_SECTIONS = ('student.', 'finetune.', 'target.', 'self_training.', 'ablation.')
# What a complete stage of each kind never read: changed, it leaves the stage as
# it is (a training run does not read the labelling recipe).
UNREAD_BY = {stages_lib.TRAIN: WORKFLOW_SECTIONS + ('pseudo_label.',),
             stages_lib.PSEUDO_LABEL: WORKFLOW_SECTIONS}


def _done(path):
  return (epath.Path(path) / 'DONE').exists()


def _attempt_seconds(path):
  """Wall seconds of the stage's earlier attempts (preempted, failed) in `path`."""
  attempts = epath.Path(path) / 'ATTEMPTS'
  return json.loads(attempts.read_text()) if attempts.exists() else []


def _check_done_config(name, path, config, unread):
  """A complete stage is the one `config` asks for (but for the sections `unread`),
  or the rerun stops naming the difference (config.resume_anyway: logs it and
  keeps the stage)."""
  saved = json.loads((epath.Path(path) / 'DONE').read_text()).get('config')
  if saved is None:
    return  # marked before DONE recorded its config
  changes = [c for c in workdir_lib.config_changes(ml_collections.ConfigDict(saved), config)
             if not c.startswith(unread)]
  if not changes:
    return
  listed = '; '.join(changes[:8]) + (f'; and {len(changes) - 8} more' if len(changes) > 8 else '')
  if not config.resume_anyway:
    raise errors.ConfigError(
        f'stage {name} in {path} is complete under another config ({listed}): use a new '
        'workdir, or --config.resume_anyway=True to keep it')
  logging.warning('stage %s in %s was made under another config (config.resume_anyway): %s',
                  name, path, listed)


def _stage(name, path, fn, config, unread):
  """Runs `fn` unless `path` holds the stage complete under `config` (but for the
  sections `unread`); returns the stage's wall time, summed over its attempts."""
  done = epath.Path(path) / 'DONE'
  if done.exists():
    _check_done_config(name, path, config, unread)
    logging.info('Stage %s: complete, skipped', name)
    return json.loads(done.read_text())['seconds']
  logging.info('Stage %s: running in %s', name, path)
  epath.Path(path).mkdir(parents=True, exist_ok=True)
  attempts, start = _attempt_seconds(path), time.time()
  try:
    fn()
  finally:  # a preempted or failed attempt's time counts too
    attempts.append(time.time() - start)
    if jax.process_index() == 0:
      workdir_lib.write_json(os.fspath(epath.Path(path) / 'ATTEMPTS'), attempts)
  if jax.process_index() == 0:
    workdir_lib.write_json(os.fspath(done), {'seconds': sum(attempts), 'attempts': len(attempts),
                                             'config': json.loads(config.to_json_best_effort())})
  return sum(attempts)


def _teacher_items(config):
  """The teacher's items per epoch (the oracle trains as many)."""
  real = sources.open_source(config.data, config.data.train_split)
  return mixture.counts(config.train, config.pseudo, len(real))[0]


def _run_stage(stage, workdir):
  """Runs one stage of stages.stages unless complete; its seconds (None for the gates)."""
  if stage.kind == stages_lib.TRAIN:
    return _stage(stage.name, stage.path, lambda: train.train_and_evaluate(stage.config, stage.path),
                  stage.config, UNREAD_BY[stage.kind])
  if stage.kind == stages_lib.PSEUDO_LABEL:
    teacher = dict(stage.inputs)['teacher']
    return _stage(stage.name, stage.path, lambda: pseudo_label.run(stage.config, stage.path, teacher),
                  stage.config, UNREAD_BY[stage.kind])
  inputs = dict(stage.inputs)
  if not gates.complete(workdir, with_oracle='oracle' in inputs):
    miou_on = lambda run_dir, split: evaluate.evaluate_checkpoint(
        evaluate.on_split(stage.config, split), run_dir, reuse=True)['miou']
    gates.check(stage.config, workdir, inputs['teacher'], miou_on, inputs.get('oracle'))
  return None


def run(config, workdir):
  """All stages of stages.stages(config); returns the report."""
  config_check.validate(config)
  if stages_lib.merged(config, config.student).pseudo.soft and not config.pseudo_label.soft_topk:
    raise errors.ConfigError('config.student.pseudo.soft needs soft labels: set '
                             'config.pseudo_label.soft_topk > 0 (e.g. 3)')
  epath.Path(workdir).mkdir(parents=True, exist_ok=True)
  items = _teacher_items(config) if stages_lib.needs_teacher_items(config) else None
  workflow = stages_lib.stages(config, workdir_lib.absolute(workdir), items)
  timings = {}
  for stage in workflow:
    seconds = _run_stage(stage, workdir)
    if seconds is not None:
      timings[stage.name] = seconds
  return make_report(config, workdir, teacher=workflow[0].path,
                     student=stages_lib.final_student(workflow).path, timings=timings)


def _scores(runs, split=None):
  """{run name: its summary on `split` (default its own eval split)} of the runs
  {name: workdir}, each evaluated as its own config says."""
  scores = {}
  for name, path in runs.items():
    config = workdir_lib.saved_config(path)
    if split:
      config = evaluate.on_split(config, split)
    scores[name] = _summary(evaluate.evaluate_checkpoint(config, path, reuse=True))
  return scores


def make_report(config, workdir, teacher, student, timings):
  """Evaluates teacher and student (and the control and oracle, where they ran)
  on the same split, and on data.test_split if set; writes report.json/.md."""
  runs = {'teacher': teacher, 'student': student}
  for name in ('control', 'oracle'):
    if _done(os.path.join(workdir, name)):
      runs[name] = os.path.join(workdir, name)
  results = _scores(runs)
  report = {
      'dataset': config.data.name, 'split': config.data.eval_split,
      'gates': _read_json(os.path.join(workdir, 'gates.json')),
      **results,
      'delta_miou': results['student']['miou'] - results['teacher']['miou'],
      'seconds': timings,
  }
  if 'control' in results:
    report['student_minus_control_miou'] = results['student']['miou'] - results['control']['miou']
  if config.data.test_split:
    report['test'] = {'split': config.data.test_split,
                      **_scores(runs, config.data.test_split)}
  if config.target:
    target = {}
    for name in ('target_from_teacher', 'target_from_student'):
      path = os.path.join(workdir, name)
      target[name] = _summary(evaluate.evaluate_checkpoint(workdir_lib.saved_config(path), path))
    target['delta_miou'] = (target['target_from_student']['miou'] -
                            target['target_from_teacher']['miou'])
    report['target'] = target
  if jax.process_index() == 0:
    visualize.plot_miou({name: metric_writer.eval_curve(path) for name, path in runs.items()},
                        os.path.join(workdir, 'miou.png'), f'{config.data.name} eval mIoU')
    (epath.Path(workdir) / 'report.json').write_text(json.dumps(report, indent=1))
    (epath.Path(workdir) / 'report.md').write_text(report_markdown(report))
  logging.info('Teacher mIoU %.4f, student %.4f (%+.4f); report in %s',
               report['teacher']['miou'], report['student']['miou'], report['delta_miou'],
               os.path.join(workdir, 'report.md'))
  return report


def _read_json(path):
  path = epath.Path(path)
  return json.loads(path.read_text()) if path.exists() else None


def _summary(result):
  return {k: result[k] for k in ('miou', 'pixel_accuracy', 'per_class_iou', 'num_images',
                                 'checkpoint_step')}


_RUNS = ('teacher', 'student', 'control', 'oracle')
_RUN_LABELS = {'control': 'duplicate-real control', 'oracle': 'oracle (every label)'}


def _pct(v):
  return '-' if v is None else f'{100 * v:.1f}'


def _score_table(report):
  """mIoU and pixel accuracy of each run, on the eval split and the test split if any."""
  runs = [r for r in _RUNS if r in report]
  test = report.get('test')
  head = '| | mIoU | pixel acc. |' + (f' {test["split"]} mIoU |' if test else '')
  lines = [head, '|---|---|---|' + ('---|' if test else '')]
  for run in runs:
    row = (f'| {_RUN_LABELS.get(run, run)} | {_pct(report[run]["miou"])} | '
           f'{_pct(report[run]["pixel_accuracy"])} |')
    lines.append(row + (f' {_pct(test[run]["miou"])} |' if test else ''))
  lines.append(f'| student - teacher | {100 * report["delta_miou"]:+.1f} | |' +
               (f' {100 * (test["student"]["miou"] - test["teacher"]["miou"]):+.1f} |'
                if test else ''))
  if 'control' in report:
    lines.append(f'| student - control | {100 * report["student_minus_control_miou"]:+.1f} | |' +
                 (f' {100 * (test["student"]["miou"] - test["control"]["miou"]):+.1f} |'
                  if test else ''))
  return lines


def _class_table(report):
  runs = [r for r in ('teacher', 'student', 'control') if r in report]
  lines = ['| class | ' + ' | '.join(f'{r} IoU' for r in runs) + ' |',
           '|---|' + '---|' * len(runs)]
  for name in report['teacher']['per_class_iou']:
    lines.append(f'| {name} | ' + ' | '.join(_pct(report[r]['per_class_iou'][name])
                                              for r in runs) + ' |')
  return lines


def _plateau_line(change, plateaued):
  if change is None:
    return ('- plateau: fewer than two evaluations in the last third of the teacher\'s '
            'training, nothing to judge (FAIL; lower eval_every)')
  return (f'- plateau: val mIoU {change:+.1f} points over the last third of the teacher\'s '
          f'training ({"pass" if plateaued else "FAIL"})')


def _gate_lines(g):
  lines = ['', 'Gates (stseg_jax/gates.py), checked before the student trained:', '',
           _plateau_line(g["val_change_last_third_points"], g["plateaued"]),
           f'- fit: teacher {_pct(g["teacher_train_miou"])} on its train split, '
           f'{_pct(g["teacher_val_miou"])} on val']
  if 'oracle_gate_miou' in g:
    lines.append(f'- oracle on every label: {_pct(g["oracle_gate_miou"])} on {g["gate_split"]} '
                 f'against the teacher\'s {_pct(g["teacher_gate_miou"])} '
                 f'({g["oracle_minus_teacher_points"]:+.1f}; '
                 f'{"pass" if g["oracle_clearly_better"] else "FAIL"})')
  return lines


def report_markdown(report):
  """A short human-readable report: mIoU, deltas, per-class IoU, gates, stage times."""
  t = report['teacher']
  lines = [f'# Self-training on {report["dataset"]} ({report["split"]}, '
           f'{t["num_images"]} images)', '', *_score_table(report), '', *_class_table(report)]
  if 'target' in report:
    a, b = report['target']['target_from_teacher'], report['target']['target_from_student']
    lines += ['', f'Target domain, finetuned ({a["num_images"]} eval images):', '',
              '| start | mIoU |', '|---|---|',
              f'| source-only teacher | {_pct(a["miou"])} |',
              f'| self-trained student | {_pct(b["miou"])} |',
              f'| delta | {100 * report["target"]["delta_miou"]:+.1f} |']
  if report.get('gates'):
    lines += _gate_lines(report['gates'])
  lines += ['', '| stage | seconds |', '|---|---|']
  lines += [f'| {name} | {seconds:.0f} |' for name, seconds in report['seconds'].items()]
  lines += ['', '![eval mIoU of teacher and student over training](miou.png)', '',
            'Colourised predictions: `teacher/visuals/` and `student/visuals/` '
            '([image | prediction over image | ground truth | prediction]).']
  return '\n'.join(lines) + '\n'


if __name__ == '__main__':
  cli.run(run, 'Where the stages and the report go.')
