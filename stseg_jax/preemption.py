"""SIGTERM, what a scheduler sends before it kills a job: checkpoint at a step's end and stop.

One process: our own handler notes the signal. Several: JAX's preemption
service (started by jax.distributed.initialize) owns SIGTERM and tells every
process the same step to stop at, since a checkpoint needs all of them. The
trainer then raises workdir.Preempted, which exits with EXIT_PREEMPTED.
"""
import signal
import threading

import jax
from jax.experimental import multihost_utils


class Preemption:
  """Installed for a training loop's life; `reached(step)` after every step."""

  def __init__(self):
    self.requested = False
    self._previous = None
    self._multiprocess = jax.process_count() > 1
    if not self._multiprocess and threading.current_thread() is threading.main_thread():
      self._previous = signal.signal(signal.SIGTERM, self._handle)

  def _handle(self, signum, frame):
    del signum, frame
    self.requested = True

  def reached(self, step):
    """Whether to checkpoint and stop after `step`."""
    if self._multiprocess:
      return multihost_utils.reached_preemption_sync_point(step)
    return self.requested

  def restore(self):
    """Puts back the SIGTERM handler there was before."""
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)
