"""The entry points' shared tail: --config and --workdir flags, start-up, one-line errors.

  if __name__ == '__main__':
    cli.run(train_and_evaluate, 'Where checkpoints and metrics go.')

A job is `fn(config, workdir)`. Extra flags of a job are defined before
`run` (under its `__main__` guard, so importing the module defines none).
"""
import logging as logging_std
import os
import sys

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from stseg_jax import distributed
from stseg_jax import errors
from stseg_jax import workdir as workdir_lib


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
    try:
      config = flags.FLAGS.config
      config.keys()  # the flag loads lazily: a missing file shows on first use
    except OSError as e:
      config_file = next((a.split('=', 1)[1] for a in sys.argv if a.startswith('--config=')),
                         '?')
      sys.exit(f'error: --config={config_file}: {str(e).strip().splitlines()[-1].strip()}')
    distributed.initialize()
    _run_or_exit(lambda: job(config, flags.FLAGS.workdir))

  app.run(main, flags_parser=_parse_flags)


def _run_or_exit(fn):
  """Runs `fn`; a user error (bad config, bad or missing file, an unwritable or
  full disk) exits with one line and status 1; a preempted run (workdir.Preempted)
  with one line and status workdir.EXIT_PREEMPTED, so a scheduler requeues it.

  Set STSEG_TRACEBACK=1 to see the full traceback instead.
  """
  try:
    return fn()
  except workdir_lib.Preempted as e:
    print(f'stopped: {e}', file=sys.stderr, flush=True)
    sys.exit(workdir_lib.EXIT_PREEMPTED)
  except (errors.ConfigError, errors.DataError, OSError, FloatingPointError) as e:
    if os.environ.get('STSEG_TRACEBACK'):
      raise
    sys.exit(f'error: {e}')


def _parse_flags(argv):
  """absl flag parsing for the entry points: a config file that is missing, does
  not parse or raises, and a bad --config.KEY=VALUE override (unknown key,
  wrong type), each end in one line naming the file or the key."""
  config_file = next((a.split('=', 1)[1] for a in argv if a.startswith('--config=')), '?')
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    if lines and 'Failed loading config file' in lines[0]:
      sys.exit(f'error: --config={config_file}: {lines[-1]}')
    sys.exit(f'error: {" ".join(lines)}')
  except (AttributeError, KeyError) as e:
    missing = str(e.args[0] if e.args else e).strip('\'"')
    named = [a.split('=')[0] for a in argv[1:] if a.startswith('--config.')
             and missing in a.split('=')[0].split('.')[1:]]
    sys.exit(f'error: {named[0] if named else "a --config override"}: no field {missing!r} '
             'in the config (see configs/default.py)')
  except Exception as e:  # pylint: disable=broad-except  # the config file's own code failed
    if os.environ.get('STSEG_TRACEBACK'):
      raise
    where = getattr(e, 'filename', None) or config_file
    line = f', line {e.lineno}' if isinstance(e, SyntaxError) and e.lineno else ''
    sys.exit(f'error: --config={config_file}: {where}{line}: {type(e).__name__}: {e}'
             if isinstance(e, SyntaxError) else
             f'error: --config={config_file}: the config raised {type(e).__name__}: {e}')
