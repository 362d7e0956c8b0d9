"""The device mesh: data parallelism over every device of every process.

Params and batch-norm state are replicated, the batch is split over the
'data' axis. Under `jax.jit` with these shardings XLA computes batch-norm
statistics over the global batch (cross-replica BN) with no axis_name.
"""
import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P


def make_mesh(devices=None):
  """A 1-D 'data' mesh over `devices` (default: all), ordered by process.

  Process p's devices hold rows [p*n/P, (p+1)*n/P) of every global batch, the
  rows `data.pipeline.local_slice` gives it, so a run on P processes sees the
  same global batches, in the same order, as a run on one. Auto axes: XLA
  propagates shardings (jax 0.10's default, Explicit, would demand an
  out_sharding on reshapes).
  """
  devices = jax.devices() if devices is None else devices
  devices = sorted(devices, key=lambda d: (d.process_index, d.id))
  return Mesh(np.array(devices), ('data',), axis_types=(jax.sharding.AxisType.Auto,))


def data_sharding(mesh):
  return NamedSharding(mesh, P('data'))


def replicated(mesh):
  return NamedSharding(mesh, P())


def to_global(local_batch, mesh):
  """Assembles each process's share of a batch into global sharded arrays."""
  sharding = data_sharding(mesh)
  return jax.tree.map(
      lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)),
      local_batch)


def to_replicated(value, mesh):
  """A host value (the same on every process) as an array on every device."""
  return jax.make_array_from_process_local_data(replicated(mesh), np.asarray(value))
