"""The self-training workflow: teacher, pseudo labels, student, report (Fig. 1).

  python -m stseg_jax.self_train --config=configs/demo.py --workdir=DIR

Stages, each in its own folder of DIR and each skipped when its output is
complete, so rerunning after a crash continues where it stopped:
  teacher/   trained on the labeled set                 (stseg_jax.train)
  labels/    teacher's hard labels on the unlabeled set  (stseg_jax.pseudo_label)
  student/   trained on real + pseudo labels             (stseg_jax.train)
           or, with self_training.mode='pretrain_finetune' (paper Table 8),
  student_pretrain/ on the pseudo labels alone, then student/ finetuned from
           it on the real labels with the `config.finetune` overrides
then both are evaluated on the same split: DIR/report.json and DIR/report.md.
With a non-empty `config.target` (cross-domain, paper section 3.4), two more
stages finetune on the target's labels (e.g. a k-shot split of another domain,
new classes re-initialised) and are compared on the target's eval split:
  target_from_teacher/  from the source-only teacher (plain finetuning)
  target_from_student/  from the self-trained student
With `self_training.loops` > 1 the student becomes the next loop's teacher.

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
from stseg_jax import pseudo_label
from stseg_jax import train
from stseg_jax import visualize
from stseg_jax import workdir as workdir_lib
from stseg_jax.data import mixture
from stseg_jax.data import sources


def merged(base, overrides):
  """A copy of `base` with every field set in `overrides` replaced, recursively."""
  out = ml_collections.ConfigDict(base.to_dict())
  def apply(target, source):
    for key, value in source.items():
      if isinstance(value, ml_collections.ConfigDict) and key in target:
        apply(target[key], value)
      else:
        target[key] = value
  apply(out, overrides)
  return out


def finetune_config(student, pretrain_dir, overrides):
  """The finetuning stage: real labels only, weights from `pretrain_dir`."""
  config = merged(student, overrides)
  config.pseudo.dir = ''
  config.train.init_from = pretrain_dir
  return config


def student_config(config, labels_dir, teacher_workdir=''):
  """The student's config; the duplicate-real baseline (Table 2b) gets no pseudo labels."""
  student = merged(config, config.student)
  model = config.student.get('model')
  if model and model.get('name', config.model.name) != config.model.name:
    # Another network (Table 3): its own model section, not the teacher's fields
    # under another name (a Fast-SCNN has no backbone).
    student.model = ml_collections.ConfigDict(model.to_dict())
  if not student.pseudo.duplicate_real:
    student.pseudo.dir = labels_dir
    student.pseudo.teacher = teacher_workdir
  if student.self_training.student_from_teacher:
    student.train.init_from = teacher_workdir
  return student


def control_config(student):
  """The duplicate-real control of a student: its recipe and steps with the real
  labels repeated in place of the pseudo ones (strong augmentation included)."""
  control = ml_collections.ConfigDict(student.to_dict())
  control.pseudo.duplicate_real = True
  control.pseudo.dir = control.pseudo.teacher = ''
  return control


# What the workflow does around a stage, not what the stage trains or labels (a
# stage's own config has its student or target fields merged in already): an
# ablation's variants share a teacher whose config differs there.
WORKFLOW_SECTIONS = ('student.', 'finetune.', 'target.', 'self_training.', 'ablation.')


def _done(path):
  return (epath.Path(path) / 'DONE').exists()


def _attempt_seconds(path):
  """Wall seconds of the stage's earlier attempts (preempted, failed) in `path`."""
  attempts = epath.Path(path) / 'ATTEMPTS'
  return json.loads(attempts.read_text()) if attempts.exists() else []


def _check_done_config(name, path, config):
  """A complete stage is the one `config` asks for, or the rerun stops naming the
  difference (config.resume_anyway: logs it and keeps the stage)."""
  saved = json.loads((epath.Path(path) / 'DONE').read_text()).get('config')
  if saved is None:
    return  # marked before DONE recorded its config
  changes = [c for c in workdir_lib.config_changes(ml_collections.ConfigDict(saved), config)
             if not c.startswith(WORKFLOW_SECTIONS)]
  if not changes:
    return
  listed = '; '.join(changes[:8]) + (f'; and {len(changes) - 8} more' if len(changes) > 8 else '')
  if not config.resume_anyway:
    raise errors.ConfigError(
        f'stage {name} in {path} is complete under another config ({listed}): use a new '
        'workdir, or --config.resume_anyway=True to keep it')
  logging.warning('stage %s in %s was made under another config (config.resume_anyway): %s',
                  name, path, listed)


def _stage(name, path, fn, config):
  """Runs `fn` unless `path` holds the stage complete under `config`; returns the
  stage's wall time, summed over its attempts."""
  done = epath.Path(path) / 'DONE'
  if done.exists():
    _check_done_config(name, path, config)
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


def _train_stage(name, path, config):
  return _stage(name, path, lambda: train.train_and_evaluate(config, path), config)


def _gate_stages(config, workdir, teacher_dir):
  """The oracle (if asked) and the gates, before any student; their timings."""
  timings, oracle_dir = {}, None
  if config.self_training.oracle_split:
    oracle_dir = os.path.join(workdir, 'oracle')
    real = sources.open_source(config.data, config.data.train_split)
    items, _ = mixture.counts(config, len(real))
    oracle = gates.oracle_config(config, items)
    timings['oracle'] = _train_stage('oracle', oracle_dir, oracle)
  if not (epath.Path(workdir) / 'gates.json').exists():
    gates.check(config, workdir, teacher_dir, oracle_dir)
  return timings


def run(config, workdir):
  """All stages of all loops; returns the report."""
  config_check.validate(config)
  if merged(config, config.student).pseudo.soft and not config.pseudo_label.soft_topk:
    raise errors.ConfigError('config.student.pseudo.soft needs soft labels: set '
                             'config.pseudo_label.soft_topk > 0 (e.g. 3)')
  epath.Path(workdir).mkdir(parents=True, exist_ok=True)
  loops = config.self_training.loops
  teacher_dir = os.path.join(workdir, 'teacher')
  timings = {'teacher': _train_stage('teacher', teacher_dir, config)}
  if config.self_training.gates:
    timings.update(_gate_stages(config, workdir, teacher_dir))
  teacher_config = config
  for loop in range(loops):
    suffix = '' if loops == 1 else f'_{loop + 1}'
    labels_dir = os.path.join(workdir, 'labels' + suffix)
    student_dir = os.path.join(workdir, 'student' + suffix)
    student = student_config(config, labels_dir, workdir_lib.absolute(teacher_dir))
    if student.pseudo.dir:  # the duplicate-real baseline needs no labels
      timings['pseudo_label' + suffix] = _stage(
          'pseudo_label' + suffix, labels_dir,
          lambda: pseudo_label.run(teacher_config, labels_dir, teacher_dir), teacher_config)
    if config.self_training.mode == 'pretrain_finetune':
      pretrain_dir = student_dir + '_pretrain'
      pretrain = merged(student, ml_collections.ConfigDict({'pseudo': {'only': True}}))
      timings['student_pretrain' + suffix] = _train_stage(
          'student_pretrain' + suffix, pretrain_dir, pretrain)
      student = finetune_config(student, pretrain_dir, config.finetune)
    timings['student' + suffix] = _train_stage('student' + suffix, student_dir, student)
    if config.self_training.duplicate_real_control:
      control, control_dir = control_config(student), os.path.join(workdir, 'control')
      timings['control'] = _train_stage('control', control_dir, control)
    teacher_dir, teacher_config = student_dir, student
  target = config.target
  if target:
    starts = (('target_from_teacher', config, os.path.join(workdir, 'teacher')),
              ('target_from_student', teacher_config, teacher_dir))
    for name, base, start_dir in starts:
      path = os.path.join(workdir, name)
      target_config = finetune_config(base, workdir_lib.absolute(start_dir), target)
      timings[name] = _train_stage(name, path, target_config)
  report = make_report(config, workdir, teacher=os.path.join(workdir, 'teacher'),
                       student=teacher_dir, timings=timings)
  return report


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
    visualize.plot_miou({name: visualize.eval_curve(path) for name, path in runs.items()},
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
