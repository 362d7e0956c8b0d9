"""Console progress of a long job: about `lines` lines over its units (steps, shards), each
with the elapsed time and an ETA.

The ETA uses a moving average of the time per unit: one interval alone jumps
between seconds and minutes when, say, the input pipeline stalls.
"""
import math
import time


class Progress:
  """`advance(done)` after each unit or interval; `show` says when a console line is due."""
  SMOOTHING = 0.3  # weight of the newest interval

  def __init__(self, total, done=0, lines=20, every=1):
    """`every`: the units come in intervals of this many (a log interval), so lines
    fall on its multiples."""
    self.total, self.done = total, done
    self.start = self._last_time = time.time()
    self._last_done, self.seconds_per_unit = done, None
    self.console_every = every * max(1, math.ceil(total / lines / every))

  def advance(self, done):
    """Marks `done` units finished; returns the seconds per unit of the interval since the last."""
    now = time.time()
    interval = (now - self._last_time) / max(done - self._last_done, 1)
    self.seconds_per_unit = interval if self.seconds_per_unit is None else (
        self.SMOOTHING * interval + (1 - self.SMOOTHING) * self.seconds_per_unit)
    self._last_time, self._last_done, self.done = now, done, done
    return interval

  @property
  def show(self):
    """Whether the last `advance` deserves a console line."""
    return self.done % self.console_every == 0 or self.done == self.total

  @property
  def elapsed(self):
    return time.time() - self.start

  @property
  def eta(self):
    return (self.total - self.done) * (self.seconds_per_unit or 0.0)
