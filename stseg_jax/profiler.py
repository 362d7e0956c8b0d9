"""A jax.profiler trace of some training steps (config.profile_steps) into WORKDIR/profile.

View it with TensorBoard's profile plugin or Perfetto.
"""
from absl import logging
import jax

# The trace starts this many steps into the run (or the resumed part of it):
# compiles and warm-up left out.
FIRST_STEP_OFFSET = 5


class Profiler:
  """Traces `num_steps` steps from `first_step` + FIRST_STEP_OFFSET on; process 0 only."""

  def __init__(self, directory, num_steps, first_step):
    self.directory, self.num_steps = directory, num_steps
    self.start_at, self.active = first_step + FIRST_STEP_OFFSET, False

  def step(self, step):
    """Call before every step."""
    if self.num_steps and step == self.start_at and jax.process_index() == 0:
      jax.profiler.start_trace(self.directory)
      self.active = True
    elif self.active and step == self.start_at + self.num_steps:
      self.stop()

  def stop(self):
    if self.active:
      jax.profiler.stop_trace()
      self.active = False
      logging.info('profile of %d steps written to %s', self.num_steps, self.directory)
