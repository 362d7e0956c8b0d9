"""Mapillary Vistas research edition v1.2: 66 label ids, class names and colours from config.json.

Layouts (both found automatically):
  v1.2 zip:  root/config.json,      root/<split>/images/*.jpg, root/<split>/labels/*.png
  v2.0 zip:  root/config_v1.2.json, root/<split>/images/*.jpg, root/<split>/v1.2/labels/*.png
with <split> one of training, validation, testing (train/val/test are accepted too). Label
PNGs are palette images whose indices are label ids 0..65. Labels whose config entry has
"evaluate": false (in v1.2 only id 65, 'Unlabeled') become 255; the evaluated ones are
numbered 0..N-1 in config order, which keeps ids 0..64 unchanged for v1.2 (N = 65).
"""
import json
import os

import numpy as np

from stseg_jax import errors
from stseg_jax.data import image_io

SPLIT_NAMES = {'train': 'training', 'val': 'validation', 'test': 'testing'}
CONFIG_NAMES = ('config.json', 'config_v1.2.json')
LABEL_DIRS = ('labels', os.path.join('v1.2', 'labels'))
REQUIRED_KEYS = ('name', 'readable', 'color', 'evaluate')


def find_config(root):
  """Path of the v1.2 config in `root`, or FileNotFoundError naming what was looked for."""
  for name in CONFIG_NAMES:
    if os.path.isfile(os.path.join(root, name)):
      return os.path.join(root, name)
  raise FileNotFoundError(f'Mapillary config not found: none of {CONFIG_NAMES} in {root}')


def load_config(path):
  """The 'labels' entries of config.json, each checked for name/readable/color/evaluate."""
  try:
    with open(path) as f:
      labels = json.load(f)['labels']
  except (json.JSONDecodeError, KeyError, TypeError) as e:
    raise errors.DataError(f'{path}: not a Mapillary config with a "labels" list ({e!r})') from e
  if not isinstance(labels, list) or not 0 < len(labels) <= 255:
    raise errors.DataError(f'{path}: "labels" must be a list of 1..255 entries')
  for n, entry in enumerate(labels):
    missing = [k for k in REQUIRED_KEYS if not isinstance(entry, dict) or k not in entry]
    if missing:
      raise errors.DataError(f'{path}: labels[{n}] lacks {missing}')
  return labels


def label_mapping(labels):
  """(class names, colours, lut, valid) from config entries: evaluated labels in order, rest 255."""
  evaluated = [n for n, entry in enumerate(labels) if entry['evaluate']]
  names = tuple(labels[n]['readable'] for n in evaluated)
  colors = np.array([labels[n]['color'] for n in evaluated], np.uint8).reshape(-1, 3)
  train_ids = {n: t for t, n in enumerate(evaluated)}
  lut, valid = image_io.lookup_tables(
      (n, train_ids.get(n, image_io.IGNORE_LABEL)) for n in range(len(labels)))
  return names, colors, lut, valid


class MapillarySource(image_io.PairedSource):
  """Random-access Mapillary Vistas v1.2: source[i] -> dict(image, label, id)."""

  def __init__(self, root, split='training', labels=True):
    image_io.require_dir(root, 'Mapillary root')
    self.root, self.split = root, SPLIT_NAMES.get(split, split)
    self.config_path = find_config(root)
    self.labels = load_config(self.config_path)
    self.class_names, self.palette, self.label_lut, self.label_valid = label_mapping(self.labels)
    self.num_classes = len(self.class_names)
    folder = os.path.join(root, self.split)
    images = image_io.list_files(os.path.join(folder, 'images'), '.jpg', 'Mapillary image folder')
    if not labels:
      self._pairs = [(p, None) for p in images]
      return
    label_dir = self._label_dir(folder)
    self._pairs = [(p, os.path.join(label_dir, image_io.stem(p, '.jpg') + '.png')) for p in images]
    image_io.require_files(self._pairs)

  @staticmethod
  def _label_dir(folder):
    """<split>/labels (v1.2 zip) or <split>/v1.2/labels (v2.0 zip)."""
    for sub in LABEL_DIRS:
      if os.path.isdir(os.path.join(folder, sub)):
        return os.path.join(folder, sub)
    raise FileNotFoundError(f'Mapillary label folder not found: none of {LABEL_DIRS} in {folder} '
                            '(pass labels=False for images only)')
