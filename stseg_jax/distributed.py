"""Multi-process start-up: `jax.distributed.initialize` when a job spans hosts.

Every entry point calls `initialize()` first. With `--coordinator_address`
(plain GPU hosts, or several processes on one machine for tests) the process
joins that coordinator; with STSEG_DISTRIBUTED=auto (Cloud TPU pods, SLURM)
JAX discovers the cluster itself; otherwise the job is single-process and
nothing happens. The rest of the code is the same either way: the mesh spans
`jax.devices()`, every process feeds its share of each batch.
"""
import os

from absl import flags
from absl import logging
import jax

_COORDINATOR = flags.DEFINE_string(
    'coordinator_address', None, 'host:port of process 0, for multi-process jobs.')
_NUM_PROCESSES = flags.DEFINE_integer('num_processes', None, 'Number of processes.')
_PROCESS_ID = flags.DEFINE_integer('process_id', None, 'This process, 0-based.')


def initialize():
  if _COORDINATOR.value:
    if _NUM_PROCESSES.value is None or _PROCESS_ID.value is None:
      raise ValueError('--coordinator_address needs --num_processes and --process_id')
    jax.distributed.initialize(coordinator_address=_COORDINATOR.value,
                               num_processes=_NUM_PROCESSES.value,
                               process_id=_PROCESS_ID.value)
  elif os.environ.get('STSEG_DISTRIBUTED') == 'auto':
    jax.distributed.initialize()
  else:
    return
  logging.info('Process %d of %d, %d local / %d global devices', jax.process_index(),
               jax.process_count(), jax.local_device_count(), jax.device_count())
