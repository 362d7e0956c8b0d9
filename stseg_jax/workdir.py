"""A training run's directory: one job at a time, its saved config, and how a run ends.

  lock(workdir)           one job per workdir: WORKDIR/.lock held with flock for the
                          job's life (released by the kernel when the process dies,
                          so a stale lock never blocks); the holder's host and pid
                          are in the file and in the error
  saved_config(workdir)   WORKDIR/config.json, the config the run was started with
  check_resume(...)       a resumed run must be the run that was started: a changed
                          field that changes training stops with the list of changes
                          (config.resume_anyway=True accepts them, logging each)
  Preempted               raised after a preemption checkpoint: the job exits with
                          EXIT_PREEMPTED, so a scheduler requeues it, and a workflow
                          never mistakes the stopped stage for a finished one
"""
import contextlib
import datetime
import fcntl
import json
import os
import socket

from absl import logging
import jax
import ml_collections

from stseg_jax import config_check

# EX_TEMPFAIL (sysexits.h): a temporary failure, the caller is invited to retry.
EXIT_PREEMPTED = 75

# Fields a resumed run may change: they decide what is logged, evaluated,
# saved or traced, and how fast, not what is trained.
# (train.init_from matters only when a run starts; train.stop_at_step is where it pauses;
# ablation.* says which seeds and variants the ablation job runs, so more seeds may be added.)
RESUMABLE = ('log_every', 'eval_every', 'checkpoint_every', 'keep_checkpoints', 'profile_steps',
             'resume_anyway', 'eval.', 'data.num_workers', 'data.cache_dir', 'data.root',
             'train.init_from', 'train.stop_at_step', 'ablation.')


class Preempted(Exception):
  """The run checkpointed at `step` of `total` on SIGTERM and stopped; rerun to resume."""

  def __init__(self, workdir, step, total):
    super().__init__(f'preempted: {workdir} checkpointed at step {step} of {total}; '
                     'rerun the same command to resume')
    self.workdir, self.step, self.total = workdir, step, total

  def __reduce__(self):
    return Preempted, (self.workdir, self.step, self.total)


class WorkdirInUse(config_check.ConfigError):
  """Another live job holds the workdir."""


@contextlib.contextmanager
def lock(workdir):
  """Holds WORKDIR/.lock (process 0; other processes follow its lead) for the block."""
  if jax.process_index() != 0:
    yield
    return
  path = os.path.join(workdir, '.lock')
  fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
  try:
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      holder = os.pread(fd, 4096, 0).decode(errors='replace').strip() or 'another process'
      raise WorkdirInUse(f'{workdir} is in use by {holder}; one job per workdir') from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, (f'pid {os.getpid()} on {socket.gethostname()} since '
                   f'{datetime.datetime.now().isoformat(timespec="seconds")}\n').encode(), 0)
    yield
  finally:
    os.close(fd)  # releases the lock


def saved_config(workdir):
  """The ConfigDict of WORKDIR/config.json, or None if the run never started."""
  path = os.path.join(workdir, 'config.json')
  if not os.path.exists(path):
    return None
  try:
    with open(path) as f:
      return ml_collections.ConfigDict(json.load(f))
  except ValueError as e:
    raise config_check.ConfigError(f'{path} does not parse ({e}); it is the config the run '
                                   'was started with, restore or delete it') from e


def write_config(config, workdir):
  if jax.process_index() == 0:
    tmp = os.path.join(workdir, f'.config.json.tmp{os.getpid()}')
    with open(tmp, 'w') as f:
      f.write(config.to_json_best_effort(indent=2))
    os.replace(tmp, os.path.join(workdir, 'config.json'))


def _flat(tree, prefix=''):
  out = {}
  for key, value in tree.items():
    if isinstance(value, dict):
      out.update(_flat(value, f'{prefix}{key}.'))
    else:
      out[prefix + key] = list(value) if isinstance(value, tuple) else value
  return out


def config_changes(saved, config):
  """['key: old -> new'] of the fields that differ and change what is trained."""
  old = _flat(json.loads(saved.to_json_best_effort()))
  new = _flat(json.loads(config.to_json_best_effort()))
  changes = []
  # A field only one side has is the code's doing (a field added or removed
  # since the run started), not the user's: not a change of the run.
  for key in sorted(set(old) & set(new)):
    if old[key] != new[key] and not key.startswith(RESUMABLE):
      changes.append(f'{key}: {old[key]!r} -> {new[key]!r}')
  return changes


def check_resume(config, workdir):
  """Refuses (or with config.resume_anyway, logs) a resume under a changed config."""
  saved = saved_config(workdir)
  if saved is None:
    return
  changes = config_changes(saved, config)
  if not changes:
    return
  listed = '; '.join(changes[:8]) + (f'; and {len(changes) - 8} more' if len(changes) > 8 else '')
  if not config.get('resume_anyway', False):
    raise config_check.ConfigError(
        f'{workdir} holds a run started with another config ({listed}); resuming would not be '
        'that run: use a new workdir, or --config.resume_anyway=True to continue with these '
        'changes')
  logging.warning('resuming %s with a changed config (config.resume_anyway): %s', workdir, listed)
