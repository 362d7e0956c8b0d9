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

from stseg_jax import config_check
from stseg_jax import distributed


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
    config_check.run_or_exit(lambda: job(config, flags.FLAGS.workdir))

  app.run(main, flags_parser=config_check.parse_flags)
