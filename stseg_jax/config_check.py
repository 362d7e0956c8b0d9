"""Up-front config validation, so a bad value fails at once with one clear line."""
import os
import sys


class ConfigError(ValueError):
  """A config value that cannot work; the message names the key."""


def validate(config):
  """Checks the values that would otherwise fail deep inside a run."""
  from stseg_jax import models, schedules  # pylint: disable=g-import-not-at-top
  from stseg_jax.data import sources  # pylint: disable=g-import-not-at-top
  if config.model.name not in models.MODELS:
    raise ConfigError(f'config.model.name: {config.model.name!r} is not one of '
                      f'{sorted(models.MODELS)}')
  if str(config.model.get('dtype', 'float32')) not in ('float32', 'bfloat16', 'float16'):
    raise ConfigError(f'config.model.dtype: {config.model.dtype!r} is not one of '
                      "('float32', 'bfloat16', 'float16')")
  pretrained = config.model.get('pretrained', '')
  if pretrained and not os.path.isfile(os.path.expanduser(pretrained)):
    raise ConfigError(f'config.model.pretrained: no file {pretrained!r} (the backbone\'s '
                      'ImageNet weights; see the config\'s docstring for how to get them)')
  if config.data.name not in sources.NAMES:
    raise ConfigError(f'config.data.name: {config.data.name!r} is not one of '
                      f'{list(sources.NAMES)}')
  if config.data.name != 'synthetic' and not os.path.isdir(
      os.path.expanduser(config.data.root)):
    raise ConfigError(f'config.data.root: data folder {config.data.root!r} does not exist')
  if config.train.schedule not in schedules.SCHEDULES:
    raise ConfigError(f'config.train.schedule: {config.train.schedule!r} is not one '
                      f'of {list(schedules.SCHEDULES)}')
  if config.get('self_training', {}).get('mode', 'joint') not in ('joint', 'pretrain_finetune'):
    raise ConfigError(f'config.self_training.mode: {config.self_training.mode!r} is not one of '
                      "('joint', 'pretrain_finetune')")
  if config.loss.get('class_weighting', '') not in ('', 'enet', 'median_frequency'):
    raise ConfigError(f'config.loss.class_weighting: {config.loss.class_weighting!r} is not '
                      "one of ('', 'enet', 'median_frequency')")
  if config.eval.get('instance_metrics', False) and config.data.name != 'cityscapes':
    raise ConfigError("config.eval.instance_metrics: iIoU needs data.name='cityscapes' "
                      f'(gtFine instance ids), not {config.data.name!r}')
  if not config.train.crop_sizes or min(config.train.crop_sizes) <= 0:
    raise ConfigError('config.train.crop_sizes: needs at least one positive size')
  for key in ('train.num_epochs', 'train.batch_size', 'log_every', 'eval_every',
              'checkpoint_every'):
    value = _lookup(config, key)
    if value <= 0:
      raise ConfigError(f'config.{key}: must be positive, got {value}')
  if not 0.0 <= config.train.class_uniform_fraction <= 1.0:
    raise ConfigError('config.train.class_uniform_fraction: must be in [0, 1]')
  if config.pseudo.get('duplicate_real', False) and config.pseudo.dir:
    raise ConfigError('config.pseudo.duplicate_real: the baseline trains on real labels '
                      f'only; unset config.pseudo.dir ({config.pseudo.dir!r})')


def _lookup(config, dotted_key):
  for part in dotted_key.split('.'):
    config = config[part]
  return config


def run_or_exit(fn):
  """Runs `fn`; a user error (bad config, bad or missing file, an unwritable or
  full disk) exits with one line and status 1; a preempted run (workdir.Preempted)
  with one line and status workdir.EXIT_PREEMPTED, so a scheduler requeues it.

  Set STSEG_TRACEBACK=1 to see the full traceback instead.
  """
  from stseg_jax import workdir  # pylint: disable=g-import-not-at-top
  from stseg_jax.data import errors  # pylint: disable=g-import-not-at-top
  try:
    return fn()
  except workdir.Preempted as e:
    print(f'stopped: {e}', file=sys.stderr, flush=True)
    sys.exit(workdir.EXIT_PREEMPTED)
  except (ConfigError, errors.DataError, OSError, FloatingPointError) as e:
    if os.environ.get('STSEG_TRACEBACK'):
      raise
    sys.exit(f'error: {e}')


def check_crop_fits(config, largest_side, split):
  """A crop larger than every image even at the largest scale would be mostly padding."""
  crop, scale = max(config.train.crop_sizes), max(config.augment.scale_range)
  if largest_side and crop > largest_side * scale:
    raise ConfigError(
        f'config.train.crop_sizes: crop {crop} is larger than every {split!r} image, even '
        f'scaled by {scale:g} (largest side {largest_side} px -> {largest_side * scale:g})')


def parse_flags(argv):
  """absl flag parsing for the entry points: a config file that is missing, does
  not parse or raises, and a bad --config.KEY=VALUE override (unknown key,
  wrong type), each end in one line naming the file or the key."""
  from absl import flags  # pylint: disable=g-import-not-at-top
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
