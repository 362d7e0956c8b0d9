"""A training run's directory: one job at a time, its saved config, and how a run ends.

  lock(workdir)           one job per workdir: WORKDIR/.lock held with flock for the
                          job's life (released by the kernel when the process dies,
                          so a stale lock never blocks); the holder's host and pid
                          are in the file and in the error
  saved_config(workdir)   WORKDIR/config.json, the config the run was started with
  check_resume(...)       a resumed run must be the run that was started: a changed
                          field that changes training stops with the list of changes
                          (config.resume_anyway=True accepts them, logging each)
  Preempted               raised when a job stops short (a SIGTERM, or train.stop_at_step)
                          after keeping its finished work: the job exits with
                          EXIT_PREEMPTED, so a scheduler requeues it, and a workflow
                          never mistakes the stopped stage for a finished one
  write_text, write_json  a workdir file written whole: to a temporary name, then
                          renamed over the old one (readers never see half a file)

A workdir may be local or on a file system etils.epath knows (gs://...):
every path here goes through epath. The lock needs flock, so it is taken on
local workdirs only.
"""
import contextlib
import datetime
import fcntl
import json
import os
import socket

from absl import logging
from etils import epath
import jax
import ml_collections

from stseg_jax import errors

# EX_TEMPFAIL (sysexits.h): a temporary failure, the caller is invited to retry.
EXIT_PREEMPTED = 75

# Fields a resumed run may change: they decide what is logged, evaluated,
# saved or traced, and how fast, not what is trained.
# (train.init_from matters only when a run starts; train.stop_at_step is where it pauses;
# ablation.* says which seeds and variants the ablation job runs, so more seeds may be added;
# data.test_split is scored after training.)
RESUMABLE = ('log_every', 'eval_every', 'checkpoint_every', 'keep_checkpoints', 'profile_steps',
             'resume_anyway', 'eval.', 'data.num_workers', 'data.cache_dir', 'data.root',
             'train.init_from', 'train.stop_at_step', 'ablation.', 'data.test_split')


class Preempted(Exception):
  """The job stopped short of its end and kept what it finished (a SIGTERM, or
  train.stop_at_step); the same command continues it. Exits EXIT_PREEMPTED."""

  @classmethod
  def at_step(cls, workdir, step, total, why='SIGTERM'):
    return cls(f'{why}: {workdir} checkpointed at step {step} of {total}; rerun the same '
               'command to resume')


class WorkdirInUse(errors.ConfigError):
  """Another live job holds the workdir."""


def is_local(path):
  """Whether `path` is on this machine's file system (no gs://-style scheme)."""
  return '://' not in os.fspath(path)


def absolute(path, resolve_links=False):
  """`path` made absolute (and with `resolve_links`, without symlinks) if it is
  local; a gs://-style path is absolute already."""
  if not is_local(path):
    return os.fspath(path)
  return os.path.realpath(path) if resolve_links else os.path.abspath(path)


def write_text(path, text):
  """Writes `path` whole: a temporary file beside it, renamed over it."""
  path = epath.Path(path)
  tmp = path.with_name(f'.{path.name}.tmp{os.getpid()}')
  tmp.write_text(text)
  tmp.replace(path)


def write_json(path, value, **dump_options):
  write_text(path, json.dumps(value, **dump_options))


@contextlib.contextmanager
def lock(workdir):
  """Holds WORKDIR/.lock (process 0; other processes follow its lead) for the block.

  flock works on local file systems only: elsewhere (gs://) the job runs
  unlocked, with a log line saying so.
  """
  if jax.process_index() != 0:
    yield
    return
  if not is_local(workdir):
    logging.info('%s is not a local folder: no lock, so make sure no other job uses it',
                 workdir)
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
  path = epath.Path(workdir) / 'config.json'
  if not path.exists():
    return None
  try:
    return ml_collections.ConfigDict(json.loads(path.read_text()))
  except ValueError as e:
    raise errors.ConfigError(f'{path} does not parse ({e}); it is the config the run '
                             'was started with, restore or delete it') from e


def has_finished_step(workdir):
  """Whether WORKDIR holds a checkpoint: a run there has trained something to protect."""
  folder = epath.Path(workdir) / 'checkpoints'
  return folder.is_dir() and any(p.name.isdigit() for p in folder.iterdir())


def write_config(config, workdir):
  """WORKDIR/config.json: what `saved_config` reads back (process 0 writes).

  A run resumed under a changed config (config.resume_anyway) keeps the config
  it replaces as a line of WORKDIR/config_history.jsonl.
  """
  if jax.process_index() != 0:
    return
  path, text = epath.Path(workdir) / 'config.json', config.to_json_best_effort(indent=2)
  if path.exists() and has_finished_step(workdir):
    old = path.read_text()
    if old != text:
      history = epath.Path(workdir) / 'config_history.jsonl'
      lines = history.read_text() if history.exists() else ''
      entry = {'replaced_at': datetime.datetime.now().isoformat(timespec='seconds'),
               'config': json.loads(old)}
      write_text(history, lines + json.dumps(entry) + '\n')
  write_text(path, text)


def _flat(tree, prefix=''):
  out = {}
  for key, value in tree.items():
    if isinstance(value, dict):
      out.update(_flat(value, f'{prefix}{key}.'))
    else:
      out[prefix + key] = list(value) if isinstance(value, tuple) else value
  return out


def config_changes(saved, config):
  """['key: old -> new'] of the fields that differ and change what is trained.

  A field the saved config lacks, set to an off value (False, 0, '', empty),
  is no change: it was added to configs/default.py since the run started,
  with the behaviour the code had without it.
  """
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
  if saved is None or not has_finished_step(workdir):
    return  # no step trained: no run to protect (a start that failed early)
  changes = config_changes(saved, config)
  if not changes:
    return
  listed = '; '.join(changes[:8]) + (f'; and {len(changes) - 8} more' if len(changes) > 8 else '')
  if not config.resume_anyway:
    raise errors.ConfigError(
        f'{workdir} holds a run started with another config ({listed}); resuming would not be '
        'that run: use a new workdir, or --config.resume_anyway=True to continue with these '
        'changes')
  logging.warning('resuming %s with a changed config (config.resume_anyway): %s', workdir, listed)
