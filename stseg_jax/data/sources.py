"""Opens the data source a config names: `config.data.name` + split.

Every source is random access (`len`, `source[i] -> dict(image, label, id)`),
exposes `class_names`, `num_classes`, `ignore_label`, and validates its files
when opened, naming whatever is missing.
"""
import os

import numpy as np

from stseg_jax.data import bdd100k
from stseg_jax.data import camvid
from stseg_jax.data import cityscapes
from stseg_jax.data import errors
from stseg_jax.data import image_io
from stseg_jax.data import kitti
from stseg_jax.data import kshot
from stseg_jax.data import mapillary
from stseg_jax.data import synthetic

NAMES = ('synthetic', 'camvid', 'cityscapes', 'cityscapes_coarse', 'cityscapes_tfds',
         'kitti', 'mapillary', 'bdd100k')


def open_source(data_config, split, labels=True, instances=False):
  """The random-access source for `split`; `labels=False` for unlabeled use,
  `instances=True` adds Cityscapes instance ids (item['instance']) for iIoU.

  `<split>_labeled` / `<split>_unlabeled` cut `split` in two with a fixed
  seeded permutation: the first `data.labeled_fraction` of it is labeled
  (the semi-supervised setting of camvid_selftrain.py). `<split>_kshot` is a
  k-shot subset: `data.kshot` images per class (data/kshot.py).
  """
  if instances and data_config.name != 'cityscapes':
    raise ValueError(f"instance ids (iIoU) need data.name='cityscapes', not {data_config.name!r}")
  source = _open(data_config, split, labels, instances)
  if not len(source):
    raise errors.DataError(f'config.data: split {split!r} of {data_config.name!r} has no '
                           f'images ({source!r})')
  return source


def largest_image_side(source):
  """The longest side over the source's images, from file headers; None if unknown."""
  if isinstance(source, synthetic.SyntheticSource):
    return max(source.height, source.width)
  sizes = [image_io.header_size(source, i) for i in range(len(source))]
  return max((max(size) for size in sizes if size), default=None)


def _open(data_config, split, labels, instances=False):
  if split.endswith('_kshot'):
    return _kshot(_open(data_config, split[:-len('_kshot')], labels, instances), data_config)
  for part in ('_labeled', '_unlabeled'):
    if split.endswith(part):
      return _fraction(_open(data_config, split[:-len(part)], labels, instances), data_config,
                       labeled=part == '_labeled')
  name = data_config.name
  if name == 'synthetic':
    return _synthetic(data_config, split)
  root = os.path.expanduser(data_config.root)
  if not os.path.isdir(root):
    raise FileNotFoundError(f'config.data.root: {name} folder {root!r} does not exist')
  if name == 'camvid':
    return camvid.CamVidSource(root, split=split)
  if name == 'cityscapes':
    return cityscapes.CityscapesSource(root, split=split, labels=labels,
                                       with_instances=instances)
  if name == 'cityscapes_coarse':
    return cityscapes.CityscapesSource(root, split=split, coarse=True, labels=labels)
  if name == 'cityscapes_tfds':
    return cityscapes.TfdsCityscapesSource(root, split=split)
  if name == 'kitti':
    return kitti.KittiSource(root, split=split, labels=labels)
  if name == 'mapillary':
    return mapillary.MapillarySource(root, split=split, labels=labels)
  if name == 'bdd100k':
    return bdd100k.BDD100KSource(root, split=split, labels=labels)
  raise ValueError(f'config.data.name: {name!r} is not one of {NAMES}')


def _fraction(source, data_config, labeled):
  fraction = data_config.get('labeled_fraction', None)
  if fraction is None or not 0 < fraction < 1:
    raise ValueError(f'config.data.labeled_fraction: needs a value in (0, 1), got {fraction}')
  order = np.random.default_rng(data_config.get('split_seed', 0)).permutation(len(source))
  cut = int(round(fraction * len(source)))
  return kshot.subset(source, np.sort(order[:cut] if labeled else order[cut:]))


def _kshot(source, data_config):
  k = data_config.get('kshot', 0)
  if not k or k < 1:
    raise ValueError(f'config.data.kshot: a _kshot split needs k >= 1, got {k}')
  presence = kshot.class_presence(source, data_config.get('kshot_min_pixels', 1))
  return kshot.subset(source, kshot.kshot_indices(presence, k, data_config.get('split_seed', 0)))


def _synthetic(data_config, split):
  sizes = {'train': data_config.get('num_train', None),
           'val': data_config.get('num_val', None),
           'unlabeled': data_config.get('num_unlabeled', None)}
  return synthetic.SyntheticSource(
      split=split, num_images=sizes.get(split), height=data_config.height,
      width=data_config.width, domain=data_config.get('domain', 'A'),
      extra_classes=data_config.get('extra_classes', False),
      seed=data_config.get('source_seed', 0),
      cache_dir=data_config.get('cache_dir', ''))
