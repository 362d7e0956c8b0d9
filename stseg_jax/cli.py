"""The entry points' shared tail: --config and --workdir flags, start-up, one-line errors.

  if __name__ == '__main__':
    cli.run(train_and_evaluate, 'Where checkpoints and metrics go.')

A job is `fn(config, workdir)`. Extra flags of a job are defined before
`run` (under its `__main__` guard, so importing the module defines none).
"""
from absl import app
from absl import flags
from ml_collections import config_flags

from stseg_jax import config_check
from stseg_jax import distributed


def run(job, workdir_help, required=()):
  """Defines --config and --workdir, parses flags, and runs `job(config, workdir)`."""
  config_flags.DEFINE_config_file('config', None, 'Config file.', lock_config=True)
  flags.DEFINE_string('workdir', None, workdir_help)
  flags.mark_flags_as_required(['config', 'workdir', *required])

  def main(argv):
    del argv
    distributed.initialize()
    config_check.run_or_exit(lambda: job(flags.FLAGS.config, flags.FLAGS.workdir))

  app.run(main, flags_parser=config_check.parse_flags)
