"""Up-front config validation, so a bad key or value fails at once with one clear line."""
import difflib
import os

from stseg_jax import errors
from stseg_jax import losses
from stseg_jax import models
from stseg_jax import schedules
from stseg_jax import stages
from stseg_jax.data import sources
from stseg_jax.data.pseudo import filters
from stseg_jax.data.labels import IGNORE_LABEL


def validate(config):
  """Checks the values that would otherwise fail deep inside a run."""
  if config.model.name not in models.MODELS:
    raise errors.ConfigError(f'config.model.name: {config.model.name!r} is not one of '
                             f'{sorted(models.MODELS)}')
  if str(config.model.dtype) not in ('float32', 'bfloat16', 'float16'):
    raise errors.ConfigError(f'config.model.dtype: {config.model.dtype!r} is not one of '
                             "('float32', 'bfloat16', 'float16')")
  pretrained = config.model.pretrained
  if pretrained and not os.path.isfile(os.path.expanduser(pretrained)):
    raise errors.ConfigError(f'config.model.pretrained: no file {pretrained!r} (the backbone\'s '
                             'ImageNet weights; see the config\'s docstring for how to get them)')
  if config.data.name not in sources.NAMES:
    raise errors.ConfigError(f'config.data.name: {config.data.name!r} is not one of '
                             f'{list(sources.NAMES)}')
  if config.data.name != 'synthetic' and not os.path.isdir(
      os.path.expanduser(config.data.root)):
    raise errors.ConfigError(f'config.data.root: data folder {config.data.root!r} does not exist')
  if config.train.schedule not in schedules.SCHEDULES:
    raise errors.ConfigError(f'config.train.schedule: {config.train.schedule!r} is not one '
                             f'of {list(schedules.SCHEDULES)}')
  if config.self_training.mode not in stages.MODES:
    raise errors.ConfigError(f'config.self_training.mode: {config.self_training.mode!r} is not '
                             f'one of {stages.MODES}')
  if config.self_training.mode == stages.ONLINE and config.self_training.loops != 1:
    raise errors.ConfigError('config.self_training.loops: online self-training is one loop '
                             '(its teacher is the student\'s own EMA)')
  if config.loss.class_weighting not in ('', *losses.CLASS_WEIGHTINGS):
    raise errors.ConfigError(f'config.loss.class_weighting: {config.loss.class_weighting!r} is not '
                             f'one of {("", *losses.CLASS_WEIGHTINGS)}')
  if config.eval.instance_metrics and config.data.name != 'cityscapes':
    raise errors.ConfigError("config.eval.instance_metrics: iIoU needs data.name='cityscapes' "
                             f'(gtFine instance ids), not {config.data.name!r}')
  if not config.train.crop_sizes or min(config.train.crop_sizes) <= 0:
    raise errors.ConfigError('config.train.crop_sizes: needs at least one positive size')
  for key in ('train.num_epochs', 'train.batch_size', 'log_every', 'eval_every',
              'checkpoint_every'):
    value = _lookup(config, key)
    if value <= 0:
      raise errors.ConfigError(f'config.{key}: must be positive, got {value}')
  if config.augment.ignore_label != IGNORE_LABEL:
    raise errors.ConfigError(f'config.augment.ignore_label: every label file and source uses '
                             f'{IGNORE_LABEL} (data/labels.py), not {config.augment.ignore_label}')
  if not 0.0 <= config.train.class_uniform_fraction <= 1.0:
    raise errors.ConfigError('config.train.class_uniform_fraction: must be in [0, 1]')
  for key in ('seed', 'data.split_seed', 'data.source_seed'):
    value = _lookup(config, key)
    if not isinstance(value, int) or value < 0:
      raise errors.ConfigError(f'config.{key}: seeds are integers >= 0, got {value!r}')
  smallest = min(config.train.crop_sizes)
  if config.loss.ohem and config.loss.ohem_min_kept >= smallest ** 2:
    raise errors.ConfigError(
        f'config.loss.ohem_min_kept: {config.loss.ohem_min_kept} pixels per image is every pixel '
        f'of a {smallest}x{smallest} crop, so OHEM would select nothing: lower it (the paper\'s '
        f'share, 100,000 of 800x800, is {smallest ** 2 * 10 // 64:,} here) or set loss.ohem=False')
  if config.pseudo.duplicate_real and config.pseudo.dir:
    raise errors.ConfigError('config.pseudo.duplicate_real: the baseline trains on real labels '
                             f'only; unset config.pseudo.dir ({config.pseudo.dir!r})')
  if config.pseudo.get('online'):  # .get: configs saved before the field existed
    _check_online(config.pseudo)
  if config.pseudo.get('unlabeled_truth'):
    _check_unlabeled_truth(config.pseudo)


def _check_online(pseudo):
  """Online self-training makes its own labels and views: no settings of the offline ones."""
  clashes = {'dir': 'its teacher labels the unlabeled images itself',
             'duplicate_real': 'the control trains without online labels',
             'only': 'the student always learns the real labels too',
             'soft': 'its labels are hard', 'strong_augment': 'it makes its own strong views',
             **{field: 'online_threshold chooses its pixels'
                for field, _ in filters.FILTERS.values()}}
  _refuse_clashes(pseudo, clashes, 'online')
  for key in ('online_threshold', 'online_class_keep_fraction'):
    if not 0.0 <= pseudo.get(key, 0.0) <= 1.0:
      raise errors.ConfigError(f'config.pseudo.{key}: must be in [0, 1]')
  if not 0.0 <= pseudo.ema_decay < 1.0:
    raise errors.ConfigError('config.pseudo.ema_decay: must be in [0, 1)')


def _check_unlabeled_truth(pseudo):
  """The truth ceiling replaces a teacher's labels: nothing of a teacher's labels applies."""
  clashes = {'dir': 'it reads the true labels instead', 'duplicate_real': 'another second stream',
             'online': 'another second stream', 'soft': 'true labels are hard',
             **{field: 'true labels have no confidence' for field, _ in filters.FILTERS.values()}}
  _refuse_clashes(pseudo, clashes, 'unlabeled_truth')


def _refuse_clashes(pseudo, clashes, mode):
  """ConfigError naming the first field of `clashes` ({field: why}) set beside pseudo.`mode`."""
  for key, why in clashes.items():
    if pseudo.get(key):  # .get: a field a saved config predates
      raise errors.ConfigError(f'config.pseudo.{key}: not with config.pseudo.{mode} ({why})')


# Sections whose fields are a model's own options (models.create checks them),
# and sections of partial configs: fields the student, the finetuning stage or
# the target stages override, each a field of the whole config.
_FREE_FORM = ('model',)
_OVERRIDES = ('student', 'finetune', 'target')


def unknown_keys(config, reference, prefix='config'):
  """['config.train.nmu_epochs (did you mean num_epochs?)'] for every key of `config`
  that `reference` (configs/default.py) lacks.

  A top-level section `reference` lacks is the config's own (ablation, bench);
  the override sections are checked against the whole reference.
  """
  found = []
  for key, value in config.items():
    name = f'{prefix}.{key}'
    is_section = hasattr(value, 'items')
    if prefix == 'config' and key in _OVERRIDES and is_section:
      found += unknown_keys(value, reference, name)
    elif key in _FREE_FORM:
      continue
    elif key not in reference:
      if not (prefix == 'config' and is_section and not key.startswith('_')):
        close = difflib.get_close_matches(key, list(reference.keys()), n=1)
        found.append(name + (f' (did you mean {close[0]}?)' if close else ''))
    elif is_section and hasattr(reference[key], 'items'):
      found += unknown_keys(value, reference[key], name)
  return found


def _lookup(config, dotted_key):
  for part in dotted_key.split('.'):
    config = config[part]
  return config


def check_crop_fits(config, largest_side, split):
  """A crop larger than every image even at the largest scale would be mostly padding."""
  crop, scale = max(config.train.crop_sizes), max(config.augment.scale_range)
  if largest_side and crop > largest_side * scale:
    raise errors.ConfigError(
        f'config.train.crop_sizes: crop {crop} is larger than every {split!r} image, even '
        f'scaled by {scale:g} (largest side {largest_side} px -> {largest_side * scale:g})')
