"""orbax checkpoints of the train state in WORKDIR/checkpoints.

The state holds the step, from which the data position follows exactly (see
data/pipeline.py), so the state alone resumes a run.
"""
import contextlib
import gc
import os
import sys
import time

from absl import logging
from etils import epath
import jax
from jax.experimental import multihost_utils
import orbax.checkpoint as ocp

from stseg_jax import errors
from stseg_jax import workdir as workdir_lib


def manager(workdir, max_to_keep=3):
  path = workdir_lib.absolute(os.path.join(workdir, 'checkpoints'))  # orbax wants it absolute
  # The handler given up front lets the manager read a step's array metadata
  # (structure checks) with its own machinery: a throwaway checkpointer per
  # read left hundreds of "Event loop is closed" tracebacks behind.
  return ocp.CheckpointManager(
      path, item_handlers=ocp.StandardCheckpointHandler(), options=ocp.CheckpointManagerOptions(
          max_to_keep=max_to_keep, create=True,
          # A save cut short (full disk, kill) leaves a *.orbax-checkpoint-tmp
          # folder: removed when the next job opens the folder.
          cleanup_tmp_directories=True))


def save(mngr, state, force=False):
  """Saves `state` at its step and waits for the write to finish.

  Waiting costs a second or two per checkpoint of the largest models, and
  buys a save that fails where it is made (a full disk): tensorstore's
  callbacks then print their "Event loop is closed" tracebacks straight to
  fd 2, here silenced, and the error reaches the job as one line.
  """
  with _stderr_silenced():
    mngr.save(int(jax.device_get(state.step)), args=ocp.args.StandardSave(state), force=force)
    mngr.wait_until_finished()


def restore(mngr, abstract_state, step=None, quarantine=False, restart_if_unreadable=False):
  """The state at `step`, or by default the newest checkpoint that reads back.

  orbax's atomic rename means a save cut short leaves no step behind; what can
  still happen is a finished step whose files were damaged later (a full disk,
  a truncated copy). Such a newest step is skipped with a warning, and with
  `quarantine` (the trainer, which owns the workdir) moved to
  WORKDIR/checkpoints_corrupt/ so that it is neither retried nor overwritten.
  A checkpoint of another model (its arrays differ from `abstract_state`'s)
  is no damage: that stops with a ConfigError naming what differs. When
  checkpoints exist but none reads back, DataError, unless
  `restart_if_unreadable` (then None, and a warning). None when there is no
  checkpoint at all.
  """
  if step is not None:
    _check_step(mngr, step)
    _check_structure(mngr, step, abstract_state)
    return _restore(mngr, step, abstract_state)
  steps = sorted(mngr.all_steps(), reverse=True)
  for candidate in steps:
    try:
      _check_structure(mngr, candidate, abstract_state)
      return _restore(mngr, candidate, abstract_state)
    except errors.ConfigError:
      raise
    except Exception as e:  # pylint: disable=broad-except  # orbax/tensorstore raise many kinds
      logging.warning('checkpoint step %d in %s does not read back (%s); trying the one before',
                      candidate, mngr.directory, _first_line(e))
      if quarantine:
        _quarantine(mngr, candidate)
  if steps and not restart_if_unreadable:
    raise errors.DataError(
        f'none of the {len(steps)} checkpoints in {mngr.directory} (steps {sorted(steps)}) reads '
        'back, so there is nothing to resume: move them away to start over, or set '
        'config.resume_anyway=True')
  if steps:
    logging.warning('no checkpoint in %s reads back: starting over (config.resume_anyway)',
                    mngr.directory)
  return None


def _check_step(mngr, step):
  if step not in mngr.all_steps():
    raise FileNotFoundError(f'checkpoint step {step}: {mngr.directory} has steps '
                            f'{sorted(mngr.all_steps())}')


def _first_line(error):
  return (str(error).strip().splitlines() or [type(error).__name__])[0][:300]


def _leaves(tree):
  """{'params/a/kernel': (shape, dtype)} of a pytree of arrays or array metadata."""
  def name(key):
    return str(getattr(key, 'name', getattr(key, 'key', getattr(key, 'idx', key))))
  return {'/'.join(name(k) for k in path): (tuple(leaf.shape), str(leaf.dtype))
          for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]}


def differences(saved, wanted):
  """['name: what differs'] between two pytrees of arrays or array metadata
  (shapes and dtypes): a checkpoint's and what a config builds."""
  saved, wanted = _leaves(saved), _leaves(wanted)
  diffs = [f'{k}: saved {saved[k][0]} {saved[k][1]}, this config {wanted[k][0]} {wanted[k][1]}'
           for k in sorted(set(saved) & set(wanted)) if saved[k] != wanted[k]]
  diffs += [f'{k}: only in the checkpoint' for k in sorted(set(saved) - set(wanted))]
  diffs += [f'{k}: not in the checkpoint' for k in sorted(set(wanted) - set(saved))]
  return diffs


def _check_structure(mngr, step, abstract_state):
  """ConfigError if the checkpoint's arrays are not `abstract_state`'s (another model,
  another class count, another optimizer); unreadable metadata raises as damage."""
  with _stderr_silenced():
    saved = _saved_arrays(mngr, step)
  if not _leaves(saved):
    raise ValueError('no array metadata')  # damage, not another model
  diffs = differences(saved, abstract_state)
  if not diffs:
    return
  raise errors.ConfigError(
      f'checkpoint step {step} in {mngr.directory} is of another model or optimizer than this '
      f'config builds ({len(diffs)} arrays differ, e.g. {"; ".join(diffs[:3])}): use the config '
      'it was trained with, or another workdir')


def _restore(mngr, step, abstract_state):
  with _stderr_silenced():
    return mngr.restore(step, args=ocp.args.StandardRestore(abstract_state))


@contextlib.contextmanager
def _stderr_silenced():
  """The process's stderr (fd 2) to /dev/null for the block.

  A damaged checkpoint fails its reads in tensorstore's threads, and each
  pending callback then prints a traceback ("Event loop is closed") straight
  to fd 2: hundreds per step, around the one line that matters, which
  `restore` logs after the block.
  """
  sys.stderr.flush()
  saved = os.dup(2)
  quiet = os.open(os.devnull, os.O_WRONLY)
  os.dup2(quiet, 2)
  os.close(quiet)
  try:
    yield
  except Exception:
    _settle_failed_reads()
    raise
  finally:
    sys.stderr.flush()
    os.dup2(saved, 2)
    os.close(saved)


def _settle_failed_reads():
  """Lets a failed restore's callbacks run (and print) while stderr is still quiet."""
  gc.collect()
  time.sleep(0.5)


def _quarantine(mngr, step):
  """Moves step's folder to checkpoints_corrupt/ (process 0) and rereads the step list.

  An earlier quarantine of the same step number stays: the new one gets a suffix.
  """
  path = epath.Path(mngr.directory) / str(step)
  corrupt = epath.Path(mngr.directory).parent / 'checkpoints_corrupt'
  target = corrupt / str(step)
  suffix = 1
  while target.exists():
    target, suffix = corrupt / f'{step}.{suffix}', suffix + 1
  if jax.process_index() == 0 and path.is_dir():
    corrupt.mkdir(parents=True, exist_ok=True)
    path.rename(target)
    logging.warning('moved the unreadable checkpoint to %s', target)
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(f'quarantine checkpoint {step}')
  mngr.reload()


def _saved_arrays(mngr, step):
  """The checkpoint's tree of array metadata (shape, dtype), without reading arrays."""
  metadata = mngr.item_metadata(step)
  return getattr(metadata, 'tree', metadata) or {}


def load_variables(workdir, sharding, step=None):
  """(params, batch_stats, step) of WORKDIR's checkpoint `step` (default: the newest
  that reads back), whatever model or class count wrote it: shapes come from the
  checkpoint's own metadata, arrays go to `sharding`.

  The readers' side of `restore`'s rule: a damaged newest step is skipped with a
  warning for the one before (left in place: a reader does not own the
  workdir); a damaged `step` asked for, or none readable, is a DataError.
  """
  mngr = manager(workdir)
  if step is not None:
    _check_step(mngr, step)
    steps = [step]
  else:
    steps = sorted(mngr.all_steps(), reverse=True)
    if not steps:
      raise FileNotFoundError(f'no checkpoint in {os.path.join(workdir, "checkpoints")}')
  for candidate in steps:
    try:
      return _load_variables(mngr, candidate, sharding)
    except Exception as e:  # pylint: disable=broad-except  # orbax/tensorstore raise many kinds
      logging.warning('checkpoint step %d in %s does not read back (%s)%s', candidate,
                      mngr.directory, _first_line(e),
                      '; trying the one before' if candidate != steps[-1] else '')
  raise errors.DataError(
      f'{mngr.directory}: checkpoint step {step} does not read back' if step is not None else
      f'none of the {len(steps)} checkpoints in {mngr.directory} (steps {sorted(steps)}) reads '
      'back')


def _load_variables(mngr, step, sharding):
  with _stderr_silenced():
    target = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=sharding),
                          _saved_arrays(mngr, step))
    if not target:
      raise ValueError('no array metadata')
    restored = _restore(mngr, step, target)
  return restored['params'], restored.get('batch_stats', {}), int(step)


def abstract(state):
  """ShapeDtypeStructs carrying each leaf's sharding, the restore target."""
  return jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), state)
