"""Is the teacher in the regime self-training can help? Checked before any student trains.

Unlabeled images help a teacher that has fitted its labeled set and is
limited by how few labels it has, not one still short of steps:

  plateau  val mIoU moved by less than `PLATEAU_POINTS` over the last third
           of the teacher's training (its eval curve in metrics.jsonl)
  gap      the teacher's mIoU on its own training images minus on val: a
           teacher that fits its labels scores well above val there
  oracle   a model trained like the teacher on every labeled image of the
           split the labeled part came from (self_training.oracle_split, for
           the same steps: stages.oracle_config), beats the teacher by at least
           `ORACLE_POINTS`: what more labels are worth, the most pseudo labels
           could recover

Writes WORKDIR/gates.json and logs one line per gate.
"""
import json

from absl import logging
from etils import epath
import jax

from stseg_jax import metric_writer

PLATEAU_POINTS = 1.0
ORACLE_POINTS = 2.0


def plateau(curve):
  """mIoU points gained over the last third of the run (from the first eval in it);
  None when the last third holds fewer than two evaluations (nothing to judge)."""
  if not curve:
    return None
  last_step = curve[-1][0]
  last_third = [m for s, m in curve if s >= 2 * last_step / 3]
  if len(last_third) < 2:
    return None
  return 100 * (last_third[-1] - last_third[0])


def complete(workdir, with_oracle):
  """Whether WORKDIR/gates.json holds every gate: a run first made without its
  oracle (self_training.oracle_split='') and resumed with one is judged again."""
  path = epath.Path(workdir) / 'gates.json'
  if not path.exists():
    return False
  return not with_oracle or 'oracle_minus_teacher_points' in json.loads(path.read_text())


def check(config, workdir, teacher_dir, miou_on, oracle_dir=None):
  """The gates of the teacher in `teacher_dir`; a dict, also WORKDIR/gates.json.

  `miou_on(run_dir, split)`: the mIoU of the run in `run_dir` on `split` (the
  workflow evaluates; this module only judges). The fit gate reads the eval
  split (val); teacher and oracle are compared on self_training.gate_split
  (default the eval split).
  """
  val = miou_on(teacher_dir, config.data.eval_split)
  train = miou_on(teacher_dir, config.data.train_split)
  change = plateau(metric_writer.eval_curve(teacher_dir))
  gates = {
      'teacher_val_miou': val, 'teacher_train_miou': train,
      'train_minus_val_points': 100 * (train - val),
      'val_change_last_third_points': change,
      'plateaued': change is not None and abs(change) < PLATEAU_POINTS,
  }
  if oracle_dir:
    split = config.self_training.gate_split or config.data.eval_split
    teacher, oracle = miou_on(teacher_dir, split), miou_on(oracle_dir, split)
    gates.update(gate_split=split, teacher_gate_miou=teacher, oracle_gate_miou=oracle,
                 oracle_minus_teacher_points=100 * (oracle - teacher),
                 oracle_clearly_better=100 * (oracle - teacher) >= ORACLE_POINTS)
  if jax.process_index() == 0:
    (epath.Path(workdir) / 'gates.json').write_text(json.dumps(gates, indent=1))
  if change is None:
    logging.info('gate plateau: fewer than two evaluations in the last third (FAIL: nothing '
                 'to judge; lower eval_every)')
  else:
    logging.info('gate plateau: val mIoU %+.1f points over the last third (%s)', change,
                 'pass' if gates['plateaued'] else 'FAIL: the teacher is still learning')
  logging.info('gate fit: teacher %.1f on its train split, %.1f on val (%+.1f)',
               100 * train, 100 * val, gates['train_minus_val_points'])
  if oracle_dir:
    logging.info('gate oracle: %.1f with every label vs the teacher\'s %.1f on %s (%+.1f, %s)',
                 100 * gates['oracle_gate_miou'], 100 * gates['teacher_gate_miou'],
                 gates['gate_split'], gates['oracle_minus_teacher_points'],
                 'pass' if gates['oracle_clearly_better'] else
                 'FAIL: more labels barely help, so pseudo labels cannot')
  return gates
