"""orbax checkpoints of the train state in WORKDIR/checkpoints.

The state holds the step, from which the data position follows exactly (see
data/pipeline.py), so the state alone resumes a run.
"""
import os

import jax
import orbax.checkpoint as ocp


def manager(workdir, max_to_keep=3):
  path = os.path.abspath(os.path.join(workdir, 'checkpoints'))
  return ocp.CheckpointManager(
      path, options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep,
                                                 create=True))


def save(mngr, state, force=False):
  mngr.save(int(jax.device_get(state.step)), args=ocp.args.StandardSave(state),
            force=force)


def restore(mngr, abstract_state, step=None):
  """The state at `step` (default: latest), or None when there is none."""
  step = mngr.latest_step() if step is None else step
  if step is None:
    return None
  return mngr.restore(step, args=ocp.args.StandardRestore(abstract_state))


def abstract(state):
  """ShapeDtypeStructs carrying each leaf's sharding, the restore target."""
  return jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), state)
