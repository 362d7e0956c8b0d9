"""SIGTERM (what a scheduler sends before it kills a job) and Ctrl-C: checkpoint
at a step's end and stop.

One process: our own handlers note the signal, and the trainer stops after the
step in flight. Python's own Ctrl-C, a KeyboardInterrupt raised wherever the
main thread is, could be swallowed there (inside an object's finalizer it is
only printed, and the run went on to its end with exit 0) or cut a step with
donated buffers in half. A second Ctrl-C stops at once, for a user who will
not wait for the step. Several processes: JAX's preemption service (started
by jax.distributed.initialize) owns SIGTERM and tells every process the same
step to stop at, since a checkpoint needs all of them; Ctrl-C keeps Python's
handling. The trainer then raises workdir.Preempted (exit EXIT_PREEMPTED) or
KeyboardInterrupt (exit 130).
"""
import signal
import threading

from absl import logging
import jax
from jax.experimental import multihost_utils


class Preemption:
  """Installed for a training loop's life; `reached(step)` after every step."""

  def __init__(self):
    self.requested = False  # SIGTERM
    self.interrupted = False  # Ctrl-C
    self._previous = {}
    self._multiprocess = jax.process_count() > 1
    if not self._multiprocess and threading.current_thread() is threading.main_thread():
      self._previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, self._on_sigterm),
                        signal.SIGINT: signal.signal(signal.SIGINT, self._on_sigint)}

  def _on_sigterm(self, signum, frame):
    del signum, frame
    self.requested = True

  def _on_sigint(self, signum, frame):
    del signum, frame
    if self.interrupted:
      raise KeyboardInterrupt()
    self.interrupted = True
    logging.warning('Ctrl-C: stopping after this step with a checkpoint (Ctrl-C again: now)')

  def reached(self, step):
    """Whether to checkpoint and stop after `step`."""
    if self._multiprocess:
      return multihost_utils.reached_preemption_sync_point(step)
    return self.requested or self.interrupted

  def restore(self):
    """Puts back the handlers there were before."""
    for signum, previous in self._previous.items():
      signal.signal(signum, previous)
