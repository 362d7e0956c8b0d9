"""The entry points' shared tail: --config and --workdir flags, start-up, one-line errors.

  if __name__ == '__main__':
    cli.run(train_and_evaluate, 'Where checkpoints and metrics go.')

A job is `fn(config, workdir)`. Extra flags of a job are defined before
`run` (under its `__main__` guard, so importing the module defines none).

What a user sees when a job cannot finish is one line and an exit status:
1 for an error (a bad config key or value, a bad file, a full disk), 75
(EX_TEMPFAIL) when a SIGTERM stopped the job, which keeps its finished work so
that the same command continues it, and 130 for Ctrl-C. STSEG_TRACEBACK=1
shows the traceback instead.
"""
import ast
import errno
import importlib
import logging as logging_std
import os
import re
import signal
import sys

from absl import app
from absl import flags
from absl import logging
from etils import epath
import jax
from ml_collections import config_flags

from stseg_jax import config_check
from stseg_jax import distributed
from stseg_jax import errors
from stseg_jax import workdir as workdir_lib
from stseg_jax.data import pipeline

EXIT_INTERRUPTED = 130  # the shell's status for a job ended by Ctrl-C


class _OwnRecordsFilter(logging_std.Filter):
  """Keeps this project's log records; other libraries' only from WARNING up, one line each.

  orbax, jax and grain log hundreds of INFO records a run (and full tracebacks
  for errors the job reports itself in one line). --verbosity=1 shows them all.
  """

  def filter(self, record):
    if f'{os.sep}stseg_jax{os.sep}' in record.pathname:
      return True
    if record.levelno < logging_std.WARNING:
      return False
    record.msg, record.args = (record.getMessage().splitlines() or [''])[0][:300], ()
    record.exc_info = record.exc_text = record.stack_info = None
    return True


def _is_closed_loop_error(value):
  return isinstance(value, RuntimeError) and str(value) == 'Event loop is closed'


def _quiet_closed_loop_errors():
  """sys.excepthook and sys.unraisablehook without tensorstore's "Event loop is
  closed" tracebacks.

  When a checkpoint write fails (a full disk), each pending tensorstore
  callback prints one, from its own threads, before orbax reports the error
  the job then stops on in one line; a callback that runs as the loop's owner
  is torn down reaches unraisablehook instead ("Exception ignored in").
  """
  excepthook, unraisablehook = sys.excepthook, sys.unraisablehook

  def on_exception(kind, value, tb):
    if not _is_closed_loop_error(value):
      excepthook(kind, value, tb)

  def on_unraisable(unraisable):
    if not _is_closed_loop_error(unraisable.exc_value):
      unraisablehook(unraisable)

  sys.excepthook, sys.unraisablehook = on_exception, on_unraisable


def _quiet_libraries():
  handler = logging.get_absl_handler()
  handler.addFilter(_OwnRecordsFilter())
  # "Task exception was never retrieved" per failed tensorstore read, after a
  # checkpoint that does not read back (reported by checkpoints.restore).
  logging_std.getLogger('asyncio').setLevel(logging_std.CRITICAL)


def run(job, workdir_help, required=()):
  """Defines --config and --workdir, parses flags, and runs `job(config, workdir)`."""
  config_flags.DEFINE_config_file('config', None, 'Config file.', lock_config=True)
  flags.DEFINE_string('workdir', None, workdir_help)
  flags.mark_flags_as_required(['config', 'workdir', *required])

  def main(argv):
    del argv
    if flags.FLAGS.verbosity < 1:
      _quiet_libraries()
      _quiet_closed_loop_errors()
    config_file = _config_file(sys.argv)
    try:
      config = flags.FLAGS.config
      config.keys()  # the flag loads lazily: a missing file shows on first use
    except OSError as e:
      sys.exit(f'error: --config={config_file}: {str(e).strip().splitlines()[-1].strip()}')
    unknown = config_check.unknown_keys(config, _default_config())
    if unknown:
      sys.exit(f'error: --config={config_file}: {unknown[0]} is not a field of '
               'configs/default.py' + (f' (and {len(unknown) - 1} more)' if len(unknown) > 1
                                        else ''))
    workdir = flags.FLAGS.workdir
    if epath.Path(workdir).exists() and not epath.Path(workdir).is_dir():
      sys.exit(f'error: --workdir={workdir}: is a file, not a folder')
    distributed.initialize()
    _run_or_exit(lambda: job(config, workdir))

  app.run(main, flags_parser=_parse_flags)


def _default_config():
  """configs/default.py's config: every field a run reads."""
  return importlib.import_module('configs.default').get_config()


def _config_file(argv):
  return next((a.split('=', 1)[1] for a in argv if a.startswith('--config=')), '?')


class _Terminated(BaseException):
  """SIGTERM outside a training loop (which checkpoints on its own; preemption.py).

  A BaseException, like KeyboardInterrupt, so that no `except Exception` on
  the way up mistakes it for a failure to handle."""


def _raise_terminated(signum, frame):
  del signum, frame
  raise _Terminated()


def _run_or_exit(fn):
  """Runs `fn`; a user error (bad config, bad or missing file, an unwritable or
  full disk) exits with one line and status 1; a stopped job (workdir.Preempted,
  or a SIGTERM anywhere else) with one line and status workdir.EXIT_PREEMPTED, so
  a scheduler requeues it; Ctrl-C with one line and status 130.

  Set STSEG_TRACEBACK=1 to see the full traceback instead.
  """
  single = jax.process_count() == 1  # several: JAX's preemption service owns SIGTERM
  if single:
    signal.signal(signal.SIGTERM, _raise_terminated)
  traceback_wanted = bool(os.environ.get('STSEG_TRACEBACK'))
  try:
    fn()
    pipeline.release_shared_memory()  # now, not reported as leaked at exit
    return
  except workdir_lib.Preempted as e:
    status, line = workdir_lib.EXIT_PREEMPTED, f'stopped: {e}'
  except _Terminated:
    status, line = workdir_lib.EXIT_PREEMPTED, (
        'stopped: SIGTERM; finished work (steps checkpointed, stages and shards complete) is '
        'kept: rerun the same command to continue')
  except KeyboardInterrupt:
    if traceback_wanted:
      raise
    status, line = EXIT_INTERRUPTED, ('interrupted (Ctrl-C); finished steps are checkpointed: '
                                      'rerun the same command to continue')
  except Exception as e:  # pylint: disable=broad-except  # mapped to one line, or re-raised
    if any(isinstance(c, _Terminated) for c in _chain(e)):
      # A cleanup on the way out of a SIGTERM failed in turn (a temporary file
      # already gone): still a stop, not an error.
      status, line = workdir_lib.EXIT_PREEMPTED, 'stopped: SIGTERM; finished work is kept: ' \
          'rerun the same command to continue'
    else:
      message = _user_error(e)
      if message is None or traceback_wanted:
        raise
      status, line = 1, f'error: {message}'
  finally:
    if single:
      signal.signal(signal.SIGTERM, signal.SIG_DFL)
  # Out of the except block the error's frames are gone, and with them the last
  # batches (grain's shared memory): freed now rather than reported at exit.
  pipeline.release_shared_memory()
  print(line, file=sys.stderr, flush=True)
  sys.exit(status)


def _chain(error):
  """`error` and the errors it was raised from or while handling."""
  chain, e = [], error
  while e is not None and e not in chain:
    chain.append(e)
    e = e.__cause__ or e.__context__
  return chain


def _user_error(error):
  """The one line for an error the user can act on, or None (a bug: the traceback shows).

  Libraries wrap a full disk in their own errors (orbax, tensorstore): the
  cause chain is searched for it.
  """
  for e in _chain(error):
    if (isinstance(e, OSError) and e.errno == errno.ENOSPC) or \
        'No space left on device' in str(e):
      where = getattr(e, 'filename', None)
      return f'no space left on device{f" writing {where}" if where else ""}; free some ' \
             'and rerun the same command to continue'
  if isinstance(error, (errors.ConfigError, errors.DataError, OSError, FloatingPointError)):
    return str(error)
  return None


def _parse_flags(argv):
  """absl flag parsing for the entry points: a config file that is missing, does
  not parse or raises, and a bad --config.KEY=VALUE override (unknown key,
  wrong type), each end in one line naming the file or the key."""
  config_file = _config_file(argv)
  try:
    return flags.FLAGS(_last_override_wins(argv))
  except flags.Error as e:
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    if lines and 'Failed loading config file' in lines[0]:
      sys.exit(f'error: --config={config_file}: {lines[-1]}')
    sys.exit(f'error: {" ".join(lines)}')
  except (AttributeError, KeyError) as e:
    # ml_collections: "'nmu_epochs'\nDid you mean "num_epochs" instead of "nmu_epochs"?"
    # arrives repr'd once or twice by config_flags: unwrap it.
    message = str(e.args[0] if e.args else e)
    while message[:1] in '\'"' and message[-1:] == message[:1] and len(message) > 1:
      try:
        message = str(ast.literal_eval(message))
      except (ValueError, SyntaxError):
        break
    first, _, hint = message.partition('\n')
    missing = first.strip('\'"')
    named = [a.split('=')[0] for a in argv[1:] if a.startswith('--config.')
             and missing in a.split('=')[0].split('.')[1:]]
    suggestion = re.search(r'Did you mean "([^"]+)"', hint)
    sys.exit(f'error: {named[0] if named else "a --config override"}: no field {missing!r} '
             'in the config' + (f' (did you mean {suggestion.group(1)!r}? see configs/default.py)'
                                if suggestion else ' (see configs/default.py)'))
  except Exception as e:  # pylint: disable=broad-except  # the config file's own code failed
    if os.environ.get('STSEG_TRACEBACK'):
      raise
    where = getattr(e, 'filename', None) or config_file
    line = f', line {e.lineno}' if isinstance(e, SyntaxError) and e.lineno else ''
    sys.exit(f'error: --config={config_file}: {where}{line}: {type(e).__name__}: {e}'
             if isinstance(e, SyntaxError) else
             f'error: --config={config_file}: the config raised {type(e).__name__}: {e}')


def _last_override_wins(argv):
  """argv with only the last of repeated `--config.KEY=...` flags: config_flags
  would append a tuple field's values ('(128,)' then '(256,)' -> (128, 256))."""
  def key(arg):
    return arg.split('=', 1)[0] if arg.startswith('--config.') and '=' in arg else None
  last = {key(a): i for i, a in enumerate(argv) if key(a)}
  return [a for i, a in enumerate(argv) if not key(a) or last[key(a)] == i]
