"""Ctrl-C and SIGTERM in a training loop (preemption.py), and the tracebacks
the command line keeps off stderr (cli.py)."""
import asyncio
import os
import signal
import sys

import pytest

from stseg_jax import cli
from stseg_jax import preemption as preemption_lib


class _SignalsSelfInFinalizer:
  """Sends `signum` to this process from a finalizer, where Python only prints
  an exception raised by a signal handler."""

  def __init__(self, signum):
    self.signum = signum

  def __del__(self):
    os.kill(os.getpid(), self.signum)
    sum(range(1000))  # bytecode for the pending handler to run in


@pytest.fixture
def preemption():
  p = preemption_lib.Preemption()
  yield p
  p.restore()


def test_ctrl_c_in_a_finalizer_is_not_lost(preemption):
  obj = _SignalsSelfInFinalizer(signal.SIGINT)
  del obj  # with Python's own handler: "Exception ignored in __del__", the run goes on
  assert preemption.interrupted and preemption.reached(step=7)
  assert not preemption.requested


def test_sigterm_is_noted_not_raised(preemption):
  os.kill(os.getpid(), signal.SIGTERM)
  sum(range(1000))
  assert preemption.requested and preemption.reached(step=7)
  assert not preemption.interrupted


def test_second_ctrl_c_stops_at_once(preemption):
  os.kill(os.getpid(), signal.SIGINT)
  sum(range(1000))
  with pytest.raises(KeyboardInterrupt):
    os.kill(os.getpid(), signal.SIGINT)
    sum(range(1000))


def test_restore_puts_back_the_handlers_there_were():
  before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
  p = preemption_lib.Preemption()
  assert signal.getsignal(signal.SIGINT) != before[0]
  p.restore()
  assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def _closed_loop_error_in_a_finalizer():
  loop = asyncio.new_event_loop()
  loop.close()

  class Callback:  # as a tensorstore callback whose loop has gone
    def __del__(self):
      loop.call_soon_threadsafe(print)

  obj = Callback()
  del obj


def _other_error_in_a_finalizer():
  class Broken:
    def __del__(self):
      raise ValueError('a real bug')

  obj = Broken()
  del obj


def test_closed_loop_errors_are_dropped_and_other_errors_kept(monkeypatch):
  seen = []
  monkeypatch.setattr(sys, 'unraisablehook', lambda u: seen.append(u.exc_value))
  monkeypatch.setattr(sys, 'excepthook', lambda kind, value, tb: seen.append(value))
  cli._quiet_closed_loop_errors()  # pylint: disable=protected-access
  _closed_loop_error_in_a_finalizer()
  _other_error_in_a_finalizer()
  sys.excepthook(RuntimeError, RuntimeError('Event loop is closed'), None)
  sys.excepthook(KeyError, KeyError('x'), None)
  assert [type(e).__name__ for e in seen] == ['ValueError', 'KeyError']
