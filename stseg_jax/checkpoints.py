"""orbax checkpoints of the train state in WORKDIR/checkpoints.

The state holds the step, from which the data position follows exactly (see
data/pipeline.py), so the state alone resumes a run.
"""
import os
import shutil

from absl import logging
import jax
from jax.experimental import multihost_utils
import orbax.checkpoint as ocp


def manager(workdir, max_to_keep=3):
  path = os.path.abspath(os.path.join(workdir, 'checkpoints'))
  return ocp.CheckpointManager(
      path, options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep,
                                                 create=True))


def save(mngr, state, force=False):
  mngr.save(int(jax.device_get(state.step)), args=ocp.args.StandardSave(state),
            force=force)


def restore(mngr, abstract_state, step=None, quarantine=False):
  """The state at `step`, or by default the newest checkpoint that reads back.

  orbax's atomic rename means a save cut short leaves no step behind; what can
  still happen is a finished step whose files were damaged later (a full disk,
  a truncated copy). Such a newest step is skipped with a warning, and with
  `quarantine` (the trainer, which owns the workdir) moved to
  WORKDIR/checkpoints_corrupt/ so that it is neither retried nor overwritten.
  None when there is no checkpoint at all.
  """
  if step is not None:
    return _restore(mngr, step, abstract_state)
  for candidate in sorted(mngr.all_steps(), reverse=True):
    try:
      return _restore(mngr, candidate, abstract_state)
    except Exception as e:  # pylint: disable=broad-except  # orbax/tensorstore raise many kinds
      first_line = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
      logging.warning('checkpoint step %d in %s does not read back (%s); trying the one before',
                      candidate, mngr.directory, first_line)
      if quarantine:
        _quarantine(mngr, candidate)
  return None


def _restore(mngr, step, abstract_state):
  return mngr.restore(step, args=ocp.args.StandardRestore(abstract_state))


def _quarantine(mngr, step):
  """Moves step's folder to checkpoints_corrupt/ (process 0) and rereads the step list."""
  path = os.path.join(str(mngr.directory), str(step))
  target = os.path.join(os.path.dirname(str(mngr.directory)), 'checkpoints_corrupt', str(step))
  if jax.process_index() == 0 and os.path.isdir(path):
    shutil.rmtree(target, ignore_errors=True)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.move(path, target)
    logging.warning('moved the unreadable checkpoint to %s', target)
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(f'quarantine checkpoint {step}')
  mngr.reload()


def load_variables(workdir, sharding):
  """(params, batch_stats, step) of WORKDIR's latest checkpoint, whatever model or
  class count wrote it: shapes come from the checkpoint's own metadata."""
  mngr = manager(workdir)
  step = mngr.latest_step()
  if step is None:
    raise FileNotFoundError(f'no checkpoint in {os.path.join(workdir, "checkpoints")}')
  path = os.path.join(str(mngr.directory), str(step), 'default')
  checkpointer = ocp.StandardCheckpointer()
  metadata = checkpointer.metadata(path)
  tree = getattr(metadata, 'item_metadata', metadata)
  tree = getattr(tree, 'tree', tree)
  target = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=sharding),
                        tree)
  restored = checkpointer.restore(path, target)
  return restored['params'], restored.get('batch_stats', {}), step


def abstract(state):
  """ShapeDtypeStructs carrying each leaf's sharding, the restore target."""
  return jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), state)
