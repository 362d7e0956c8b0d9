"""Metrics to WORKDIR/metrics.jsonl (one JSON object per line) and TensorBoard."""
import json
import math
import os

import jax


class MetricWriter:
  """Writes on process 0 only; other processes' writes are no-ops."""

  def __init__(self, workdir):
    self.enabled = jax.process_index() == 0
    if not self.enabled:
      return
    os.makedirs(workdir, exist_ok=True)
    self._jsonl = open(os.path.join(workdir, 'metrics.jsonl'), 'a')
    from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
    self._tb = SummaryWriter(os.path.join(workdir, 'tensorboard'))

  def write(self, step, metrics):
    if not self.enabled:
      return
    record = {'step': int(step)}
    record.update({k: _plain(v) for k, v in metrics.items()})
    self._jsonl.write(json.dumps(record) + '\n')
    self._jsonl.flush()
    for key, value in record.items():
      if key != 'step' and isinstance(value, (int, float)) and math.isfinite(value):
        self._tb.add_scalar(key, value, int(step))
    self._tb.flush()

  def close(self):
    if self.enabled:
      self._jsonl.close()
      self._tb.close()


def _plain(value):
  if hasattr(value, 'item'):
    value = value.item()
  return value
