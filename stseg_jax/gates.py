"""Is the teacher in the regime self-training can help? Checked before any student trains.

Unlabeled images help a teacher that has fitted its labeled set and is
limited by how few labels it has, not one still short of steps (issue 16):

  plateau  val mIoU moved by less than `PLATEAU_POINTS` over the last third
           of the teacher's training (its eval curve in metrics.jsonl)
  gap      the teacher's mIoU on its own training images minus on val: a
           teacher that fits its labels scores well above val there
  oracle   a model trained like the teacher on every labeled image of the
           split the labeled part came from (self_training.oracle_split), for
           the same steps, beats the teacher by at least `ORACLE_POINTS`: what
           more labels are worth, the most pseudo labels could recover

Writes WORKDIR/gates.json and logs one line per gate.
"""
import json

from absl import logging
from etils import epath
import jax
import ml_collections

from stseg_jax import evaluate

PLATEAU_POINTS = 1.0
ORACLE_POINTS = 2.0


def eval_curve(run_dir):
  """[(step, eval mIoU)] of a training run, from its metrics.jsonl."""
  lines = (epath.Path(run_dir) / 'metrics.jsonl').read_text().splitlines()
  records = [json.loads(line) for line in lines]
  return [(r['step'], r['eval_miou']) for r in records if 'eval_miou' in r]


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


def _miou(run_dir, config, split):
  return evaluate.evaluate_checkpoint(evaluate.on_split(config, split), run_dir,
                                      reuse=True)['miou']


def oracle_config(config, teacher_items):
  """The teacher's recipe on all of `self_training.oracle_split`, for the teacher's steps."""
  c = ml_collections.ConfigDict(config.to_dict())
  c.data.train_split = config.self_training.oracle_split
  c.train.epoch_items = teacher_items  # same items per epoch, so the same steps
  # Which part is labeled means nothing for a run on every label: fixed, so that
  # one oracle serves every labeled fraction and split of a sweep.
  c.data.labeled_fraction, c.data.labeled_sequences, c.data.split_seed = 1.0, (), 0
  return c


def check(config, workdir, teacher_dir, oracle_dir=None):
  """The gates of the teacher in `teacher_dir`; a dict, also WORKDIR/gates.json.

  The fit gate reads the eval split (val); teacher and oracle are compared on
  self_training.gate_split (default the eval split).
  """
  val = _miou(teacher_dir, config, config.data.eval_split)
  train = _miou(teacher_dir, config, config.data.train_split)
  change = plateau(eval_curve(teacher_dir))
  gates = {
      'teacher_val_miou': val, 'teacher_train_miou': train,
      'train_minus_val_points': 100 * (train - val),
      'val_change_last_third_points': change,
      'plateaued': change is not None and abs(change) < PLATEAU_POINTS,
  }
  if oracle_dir:
    split = config.self_training.gate_split or config.data.eval_split
    teacher = _miou(teacher_dir, config, split)
    oracle = _miou(oracle_dir, config, split)
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
