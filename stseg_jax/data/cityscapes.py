"""Cityscapes: the label table, id -> train id mapping, and sources for the folder and tfds layouts.

Folder layout (as unzipped from cityscapes-dataset.com):
  root/leftImg8bit/<split>/<city>/<city>_<seq>_<frame>_leftImg8bit.png
  root/gtFine/<split>/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png     (+ _instanceIds.png)
  root/gtCoarse/<split>/<city>/<city>_<seq>_<frame>_gtCoarse_labelIds.png (split train_extra too)
Label PNGs hold label ids 0..33; the 19 evaluated classes become train ids 0..18 and every other
id becomes 255. Instance PNGs (16 bit) hold label_id * 1000 + k on objects of the instance
classes and the plain label id elsewhere (stuff and crowd regions).
"""
import hashlib
import json
import os

import numpy as np

from stseg_jax import errors
from stseg_jax.data import image_io
from stseg_jax.data import palette as palette_lib
from stseg_jax.data.labels import IGNORE_LABEL

# The official table (cityscapesscripts helpers/labels.py), written as data.
# name, label id, train id, category, has instances.
LABELS = (
    ('unlabeled', 0, 255, 'void', False),
    ('ego vehicle', 1, 255, 'void', False),
    ('rectification border', 2, 255, 'void', False),
    ('out of roi', 3, 255, 'void', False),
    ('static', 4, 255, 'void', False),
    ('dynamic', 5, 255, 'void', False),
    ('ground', 6, 255, 'void', False),
    ('road', 7, 0, 'flat', False),
    ('sidewalk', 8, 1, 'flat', False),
    ('parking', 9, 255, 'flat', False),
    ('rail track', 10, 255, 'flat', False),
    ('building', 11, 2, 'construction', False),
    ('wall', 12, 3, 'construction', False),
    ('fence', 13, 4, 'construction', False),
    ('guard rail', 14, 255, 'construction', False),
    ('bridge', 15, 255, 'construction', False),
    ('tunnel', 16, 255, 'construction', False),
    ('pole', 17, 5, 'object', False),
    ('polegroup', 18, 255, 'object', False),
    ('traffic light', 19, 6, 'object', False),
    ('traffic sign', 20, 7, 'object', False),
    ('vegetation', 21, 8, 'nature', False),
    ('terrain', 22, 9, 'nature', False),
    ('sky', 23, 10, 'sky', False),
    ('person', 24, 11, 'human', True),
    ('rider', 25, 12, 'human', True),
    ('car', 26, 13, 'vehicle', True),
    ('truck', 27, 14, 'vehicle', True),
    ('bus', 28, 15, 'vehicle', True),
    ('caravan', 29, 255, 'vehicle', True),
    ('trailer', 30, 255, 'vehicle', True),
    ('train', 31, 16, 'vehicle', True),
    ('motorcycle', 32, 17, 'vehicle', True),
    ('bicycle', 33, 18, 'vehicle', True),
    ('license plate', -1, 255, 'vehicle', False),  # Never in a PNG: plates keep their vehicle's id.
)
CATEGORIES = ('flat', 'construction', 'object', 'nature', 'sky', 'human', 'vehicle')

_EVALUATED = sorted((t, name, cat, inst) for name, _, t, cat, inst in LABELS if t != IGNORE_LABEL)
CLASS_NAMES = tuple(name for _, name, _, _ in _EVALUATED)
NUM_CLASSES = len(CLASS_NAMES)
# Category index (into CATEGORIES) of each train id.
TRAIN_ID_CATEGORY = np.array([CATEGORIES.index(cat) for _, _, cat, _ in _EVALUATED], np.int32)
# Train ids of the classes the instance-level scores cover (person .. bicycle).
INSTANCE_TRAIN_IDS = tuple(t for t, _, _, inst in _EVALUATED if inst)
MAX_LABEL_ID = max(i for _, i, _, _, _ in LABELS)

# id -> train id (255 for ignored ids), and which raw ids may appear in a label PNG at all.
ID_TO_TRAIN_ID, VALID_IDS = image_io.lookup_tables((i, t) for _, i, t, _, _ in LABELS if i >= 0)
# train id -> label id, for writing predictions in the official submission format.
TRAIN_ID_TO_ID = np.array([i for t in range(NUM_CLASSES)
                           for _, i, tt, _, _ in LABELS if tt == t], np.uint8)


def instance_label_ids(instance):
  """Label id of each pixel of an instance map (id * 1000 + k on objects, plain id elsewhere)."""
  instance = np.asarray(instance, np.int64)
  return np.where(instance >= 1000, instance // 1000, instance)


def read_instance(path):
  """HxW int32 instance ids; a value that does not decode to a label id 0..33 is an error."""
  raw = image_io.read_raw(path).astype(np.int64)
  ids = instance_label_ids(raw)
  bad = (ids < 0) | (ids > MAX_LABEL_ID)
  if bad.any():
    raise errors.DataError(f'{path}: instance values {np.unique(raw[bad])[:10].tolist()} do not '
                           f'decode to a Cityscapes label id 0..{MAX_LABEL_ID}')
  return raw.astype(np.int32)


class CityscapesSource(image_io.PairedSource):
  """Random-access Cityscapes: source[i] -> dict(image, label, id[, instance])."""
  num_classes = NUM_CLASSES
  class_names = CLASS_NAMES
  palette = palette_lib.PALETTE
  image_suffix = '_leftImg8bit.png'
  label_lut, label_valid = ID_TO_TRAIN_ID, VALID_IDS

  def __init__(self, root, split='train', with_instances=False, coarse=False, labels=True):
    """coarse: gtCoarse labels (train/train_extra/val); labels=False: images only, no 'label'."""
    if with_instances and not labels:
      raise ValueError('with_instances=True needs labels=True')
    image_io.require_dir(root, 'Cityscapes root')
    self.root, self.split, self.with_instances = root, split, with_instances
    self.annotation = 'gtCoarse' if coarse else 'gtFine'
    images = image_io.list_files(os.path.join(root, 'leftImg8bit', split), self.image_suffix,
                                 'Cityscapes image folder', recursive=True)
    if not labels:
      self._pairs = [(p, None) for p in images]
      return
    image_io.require_dir(os.path.join(root, self.annotation, split),
                         f'Cityscapes {self.annotation} folder')
    self._pairs = [(p, self._gt_path(p, 'labelIds')) for p in images]
    image_io.require_files([pair[:2] for pair in self._pairs])
    if with_instances:
      self._pairs = [(p, l, self._gt_path(p, 'instanceIds')) for p, l in self._pairs]
      image_io.require_files([(p, i) for p, _, i in self._pairs], 'instance map')

  def _gt_path(self, image_path, kind):
    """gt<Fine|Coarse>/<split>/<city>/<stem>_gt<Fine|Coarse>_<kind>.png for an image."""
    city = os.path.basename(os.path.dirname(image_path))
    name = f'{image_io.stem(image_path, self.image_suffix)}_{self.annotation}_{kind}.png'
    return os.path.join(self.root, self.annotation, self.split, city, name)

  def __getitem__(self, i):
    item = super().__getitem__(i)
    if self.with_instances:
      path = self._pairs[i][2]
      instance = read_instance(path)
      image_io.check_size(self._pairs[i][0], item['image'], path, instance)
      item['instance'] = instance
    return item


def prepared_info(data_dir, config):
  """Path of the prepared tfds dataset_info.json, or an error saying how to prepare it."""
  image_io.require_dir(data_dir, 'tfds data_dir')
  folder = os.path.join(data_dir, 'cityscapes', config)
  versions = sorted(v for v in (os.listdir(folder) if os.path.isdir(folder) else ())
                    if os.path.isfile(os.path.join(folder, v, 'dataset_info.json')))
  if not versions:
    raise FileNotFoundError(
        f'tfds cityscapes/{config} is not prepared under {data_dir} (no {folder}/<version>/'
        'dataset_info.json). Prepare it once, with TensorFlow installed and the zips from '
        'cityscapes-dataset.com in <manual_dir>: tfds build cityscapes/' + config +
        f' --data_dir={data_dir} --manual_dir=<manual_dir> --file_format=array_record')
  path = os.path.join(folder, versions[-1], 'dataset_info.json')
  with open(path) as f:
    info = json.load(f)
  formats = [info.get('fileFormat') or 'tfrecord'] + list(info.get('alternativeFileFormats', []))
  if not {'array_record', 'parquet'} & set(formats):
    raise errors.DataError(f'{path}: prepared as {formats}, which has no random access; '
                           'rebuild with --file_format=array_record')
  return path


def example_to_item(example, where):
  """A tfds cityscapes example -> dict(image, label, id), label ids mapped to train ids."""
  image = np.asarray(example['image_left'], np.uint8)
  raw = np.asarray(example['segmentation_label'])[..., 0]
  bad = image_io.bad_values(raw, VALID_IDS)
  if bad:
    raise errors.DataError(f'{where}: label values {bad} outside the Cityscapes label ids 0..33')
  image_id = example['image_id']
  image_id = image_id.decode() if isinstance(image_id, bytes) else str(image_id)
  return dict(image=image, label=ID_TO_TRAIN_ID[raw.astype(np.uint8)], id=image_id)


# The tfds builder names its splits train / validation / test; 'val' (as in the folder layout
# and config.data.eval_split's default) means 'validation'.
TFDS_SPLIT_NAMES = {'val': 'validation'}


class TfdsCityscapesSource:
  """Cityscapes from a tfds array_record build, random access without TensorFlow."""
  num_classes = NUM_CLASSES
  class_names = CLASS_NAMES
  palette = palette_lib.PALETTE
  ignore_label = IGNORE_LABEL
  label_lut, label_valid = ID_TO_TRAIN_ID, VALID_IDS

  def __init__(self, data_dir, split='train', config='semantic_segmentation'):
    self.root, self.split, self.config = data_dir, TFDS_SPLIT_NAMES.get(split, split), config
    self._info_path = prepared_info(data_dir, config)
    # Imported here: only this source needs tfds.
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
    # download=False: never start a build (that needs TensorFlow and the manual zips).
    self._data = tfds.data_source(f'cityscapes/{config}', split=self.split, data_dir=data_dir,
                                  download=False)

  def __len__(self):
    return len(self._data)

  def __getitem__(self, i):
    return example_to_item(self._data[i], f'tfds cityscapes/{self.config} {self.split}[{i}]')

  def __repr__(self):
    with open(self._info_path, 'rb') as f:
      digest = hashlib.sha256(f.read() + self.split.encode()).hexdigest()[:12]
    return (f'TfdsCityscapesSource(root={self.root!r}, split={self.split!r}, n={len(self)}, '
            f'files={digest})')
