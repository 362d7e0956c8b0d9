"""Opens the data source a config names: `config.data.name` + split.

Every source is random access (`len`, `source[i] -> dict(image, label, id)`),
exposes `class_names`, `num_classes`, `ignore_label`, and validates its files
when opened, naming whatever is missing.
"""
import os

import ml_collections
import numpy as np
from PIL import Image

from stseg_jax import errors
from stseg_jax.data import augment
from stseg_jax.data import bdd100k
from stseg_jax.data import camvid
from stseg_jax.data import cityscapes
from stseg_jax.data import image_io
from stseg_jax.data import kitti
from stseg_jax.data import kshot
from stseg_jax.data import mapillary
from stseg_jax.data import synthetic

# Datasets read from files under config.data.root: name -> (root, split, labels,
# instances) -> source. With 'synthetic' (rendered, no root), the names config_check accepts.
DATASETS = {
    'camvid': lambda root, split, labels, instances: camvid.CamVidSource(root, split=split),
    'cityscapes': lambda root, split, labels, instances: cityscapes.CityscapesSource(
        root, split=split, labels=labels, with_instances=instances),
    'cityscapes_coarse': lambda root, split, labels, instances: cityscapes.CityscapesSource(
        root, split=split, coarse=True, labels=labels),
    'cityscapes_tfds': lambda root, split, labels, instances: cityscapes.TfdsCityscapesSource(
        root, split=split),
    'kitti': lambda root, split, labels, instances: kitti.KittiSource(root, split=split,
                                                                      labels=labels),
    'mapillary': lambda root, split, labels, instances: mapillary.MapillarySource(
        root, split=split, labels=labels),
    'bdd100k': lambda root, split, labels, instances: bdd100k.BDD100KSource(root, split=split,
                                                                            labels=labels),
}
NAMES = ('synthetic', *DATASETS)


def open_source(data_config, split, labels=True, instances=False):
  """The random-access source for `split`; `labels=False` for unlabeled use,
  `instances=True` adds Cityscapes instance ids (item['instance']) for iIoU.

  `<split>_labeled` / `<split>_unlabeled` cut `split` in two: with
  `data.labeled_sequences` the images whose id starts with one of them are
  labeled (CamVid: the video sequence, e.g. '0006R0'), else a fixed seeded
  permutation's first `data.labeled_fraction` (the semi-supervised setting of
  camvid_selftrain.py). `<split>_kshot` is a k-shot subset: `data.kshot`
  images per class (data/kshot.py). `data.resize_factor` != 1 resizes every
  image (bilinear) and label (nearest) on load: a dataset at a fraction of
  its resolution, for small accelerators or the CPU.
  """
  if instances and data_config.name != 'cityscapes':
    raise ValueError(f"instance ids (iIoU) need data.name='cityscapes', not {data_config.name!r}")
  source = _open(data_config, split, labels, instances)
  if not len(source):
    raise errors.DataError(f'config.data: split {split!r} of {data_config.name!r} has no '
                           f'images ({source!r})')
  return source


def unlabeled_data_config(data, unlabeled):
  """`data` (config.data) with the unlabeled set's name, root, domain and split
  from `unlabeled` (config.unlabeled) put in where set."""
  out = ml_collections.ConfigDict(data.to_dict())
  for key in ('name', 'root', 'domain'):  # domain: another synthetic city (cross-domain)
    if unlabeled[key]:
      out[key] = unlabeled[key]
  out.train_split = unlabeled.split
  return out


def largest_image_side(source):
  """The longest side over the source's images, from file headers; None if unknown."""
  if isinstance(source, Resized):
    side = largest_image_side(source.source)
    return side and max(augment.scaled_shape((side, side), source.factor))
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
  source = _open_dataset(data_config, split, labels, instances)
  factor = data_config.resize_factor
  if factor == 1.0:
    return source
  return Resized(source, factor, cache=data_config.resize_cache)


def _open_dataset(data_config, split, labels, instances):
  name = data_config.name
  if name == 'synthetic':
    return _synthetic(data_config, split)
  if name not in DATASETS:
    raise ValueError(f'config.data.name: {name!r} is not one of {NAMES}')
  root = os.path.expanduser(data_config.root)
  if not os.path.isdir(root):
    raise FileNotFoundError(f'config.data.root: {name} folder {root!r} does not exist')
  return DATASETS[name](root, split, labels, instances)


def _fraction(source, data_config, labeled):
  sequences = tuple(data_config.labeled_sequences)
  if sequences:
    ids = [_item_id(source, i) for i in range(len(source))]
    chosen = np.array([i.startswith(sequences) for i in ids], bool)
    if not chosen.any() or chosen.all():
      raise ValueError(f'config.data.labeled_sequences: {sequences} select '
                       f'{int(chosen.sum())} of the {len(ids)} images; need some, not all')
    return kshot.subset(source, np.flatnonzero(chosen if labeled else ~chosen))
  fraction = data_config.labeled_fraction
  if not 0 < fraction < 1:
    raise ValueError(f'config.data.labeled_fraction: needs a value in (0, 1), got {fraction}')
  order = np.random.default_rng(data_config.split_seed).permutation(len(source))
  cut = int(round(fraction * len(source)))
  return kshot.subset(source, np.sort(order[:cut] if labeled else order[cut:]))


def _item_id(source, i):
  """Item i's id, from the file list where the source has one (no decoding)."""
  if isinstance(source, Resized):
    return _item_id(source.source, i)
  if isinstance(source, image_io.PairedSource):
    return source.item_id(i)
  return source[i]['id']


class Resized:
  """`source` with every image and label resized by `factor` on load.

  Images bilinearly (antialiased when shrinking, as PIL does), labels by
  nearest neighbour, so label values stay labels; sizes round to the nearest
  pixel (augment.scaled_shape).
  """

  def __init__(self, source, factor, cache=False):
    if not 0 < factor <= 4:
      raise ValueError(f'config.data.resize_factor: needs a value in (0, 4], got {factor}')
    self.source, self.factor = source, factor
    # cache: keep every resized item (a small dataset, read in threads).
    self._cache = {} if cache else None

  def __len__(self):
    return len(self.source)

  def __getitem__(self, i):
    if self._cache is not None:
      if i not in self._cache:
        self._cache[i] = self._resized(i)
      return dict(self._cache[i])
    return self._resized(i)

  def _resized(self, i):
    item = dict(self.source[i])
    hw = augment.scaled_shape(item['image'].shape, self.factor)
    item['image'] = np.asarray(Image.fromarray(item['image']).resize(
        hw[::-1], Image.Resampling.BILINEAR))
    for key in ('label', 'instance'):
      if key in item:
        item[key] = np.asarray(Image.fromarray(item[key]).resize(hw[::-1], Image.Resampling.NEAREST))
    return item

  def subset(self, indices):
    return Resized(kshot.subset(self.source, indices), self.factor, self._cache is not None)

  def __getattr__(self, name):
    if name in ('source', 'factor', '_cache') or name.startswith('__'):  # unpickling: no recursion
      raise AttributeError(name)
    return getattr(self.source, name)

  def __repr__(self):
    return f'Resized({self.source!r}, factor={self.factor})'


def _kshot(source, data_config):
  k = data_config.kshot
  if k < 1:
    raise ValueError(f'config.data.kshot: a _kshot split needs k >= 1, got {k}')
  presence = kshot.class_presence(source, data_config.kshot_min_pixels)
  return kshot.subset(source, kshot.kshot_indices(presence, k, data_config.split_seed))


def _synthetic(data_config, split):
  sizes = {'train': data_config.num_train, 'val': data_config.num_val,
           'unlabeled': data_config.num_unlabeled}
  return synthetic.SyntheticSource(
      split=split, num_images=sizes.get(split), height=data_config.height,
      width=data_config.width, domain=data_config.domain,
      extra_classes=data_config.extra_classes, seed=data_config.source_seed,
      cache_dir=data_config.cache_dir)
