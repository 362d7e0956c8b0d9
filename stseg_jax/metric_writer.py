"""Metrics to WORKDIR/metrics.jsonl (one JSON object per line) and TensorBoard, and back.

  MetricWriter   writes them (process 0)
  read_metrics   every record of a run's metrics.jsonl
  eval_curve     [(step, eval mIoU)] of a run
"""
import json
import math
import os

from etils import epath
import jax

from stseg_jax import workdir as workdir_lib


class MetricWriter:
  """Writes on process 0 only; other processes' writes are no-ops.

  A local metrics.jsonl is appended to; a file elsewhere (gs://, where files
  cannot be appended to) is rewritten whole at each write, earlier lines first.
  """

  def __init__(self, workdir, resumed_step=None):
    """`resumed_step`: the step a run resumes from; records written past it by an
    attempt that died before its next checkpoint are dropped, as their steps
    will be trained and written again."""
    self.enabled = jax.process_index() == 0
    if not self.enabled:
      return
    workdir = epath.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    self._path = workdir / 'metrics.jsonl'
    self._local = workdir_lib.is_local(workdir)
    self._lines = self._path.read_text().splitlines(True) if self._path.exists() else []
    if resumed_step is not None:
      kept = [l for l in self._lines if json.loads(l)['step'] <= resumed_step]
      if len(kept) < len(self._lines):
        self._lines = kept
        workdir_lib.write_text(self._path, ''.join(kept))
    if self._local:
      self._jsonl = open(self._path, 'a')
    # Imported here: 1.5 s of imports that only the writing process needs.
    from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
    # purge_step: TensorBoard discards the events of the dropped steps too.
    self._tb = SummaryWriter(os.fspath(workdir / 'tensorboard'),
                             purge_step=None if resumed_step is None else resumed_step + 1)

  def write(self, step, metrics):
    if not self.enabled:
      return
    record = {'step': int(step)}
    record.update({k: _plain(v) for k, v in metrics.items()})
    line = json.dumps(record) + '\n'
    if self._local:
      self._jsonl.write(line)
      self._jsonl.flush()
    else:
      self._lines.append(line)
      workdir_lib.write_text(self._path, ''.join(self._lines))
    for key, value in record.items():
      if key != 'step' and isinstance(value, (int, float)) and math.isfinite(value):
        self._tb.add_scalar(key, value, int(step))
    self._tb.flush()

  def close(self):
    if self.enabled:
      if self._local:
        self._jsonl.close()
      self._tb.close()


def _plain(value):
  if hasattr(value, 'item'):
    value = value.item()
  return value


def read_metrics(workdir):
  """Every record of WORKDIR/metrics.jsonl, in order; [] before the first write."""
  path = epath.Path(workdir) / 'metrics.jsonl'
  if not path.exists():
    return []
  return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def eval_curve(workdir):
  """[(step, eval mIoU)] of the run in WORKDIR."""
  return [(r['step'], r['eval_miou']) for r in read_metrics(workdir) if 'eval_miou' in r]
