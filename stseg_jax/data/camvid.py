"""CamVid in the SegNet layout: 11 classes at 360x480, void mapped to ignore.

root/{split}.txt lists 'image_path label_path' pairs relative to root. Label
maps are single-channel PNGs with values 0..10 (classes) and 11 (void), which
becomes 255 so loss and metrics skip it. All listed files are checked for
existence when the source is opened; content errors (corrupt files, bad
values, size mismatch) are reported per file when an item is read.
"""
import os

import numpy as np

from stseg_jax import errors
from stseg_jax.data import image_io
from stseg_jax.data.labels import IGNORE_LABEL

CLASS_NAMES = ('sky', 'building', 'pole', 'road', 'sidewalk', 'tree', 'sign_symbol', 'fence',
               'car', 'pedestrian', 'bicyclist')
NUM_CLASSES = len(CLASS_NAMES)
# The SegNet colours of those classes, for pictures.
PALETTE = np.array([(128, 128, 128), (128, 0, 0), (192, 192, 128), (128, 64, 128), (0, 0, 192),
                    (128, 128, 0), (192, 128, 128), (64, 64, 128), (64, 0, 128), (64, 64, 0),
                    (0, 128, 192)], np.uint8)
VOID = 11

# Labels through a lookup table: 0..10 stay, void becomes the ignore label.
_LUT = np.arange(256, dtype=np.uint8)
_LUT[VOID] = IGNORE_LABEL


def read_pairs(root, list_file):
  """(image, label) absolute paths from a list file; every file must exist."""
  if not os.path.isfile(list_file):
    raise FileNotFoundError(f'CamVid list file not found: {list_file}')
  pairs = []
  with open(list_file) as f:
    for n, line in enumerate(f, 1):
      fields = line.split()
      if not fields:
        continue
      if len(fields) != 2:
        raise errors.DataError(
            f'{list_file}:{n}: expected "image_path label_path", got {line.strip()!r}')
      pairs.append(tuple(os.path.join(root, p) for p in fields))
  missing = [p for pair in pairs for p in pair if not os.path.isfile(p)]
  if missing:
    raise FileNotFoundError(f'{len(missing)} file(s) listed in {list_file} are missing, e.g. '
                            f'{", ".join(missing[:3])}')
  return pairs


def read_label(path):
  """HxW uint8 with void (11) as 255; other values outside 0..11 are an error."""
  im = image_io.open_image(path, ('L', 'P', 'I', 'I;16'))
  label = np.asarray(im)
  bad = (label < 0) | (label > VOID)
  if bad.any():
    values = np.unique(label[bad])[:10].tolist()
    raise errors.DataError(f'{path}: label values {values} outside 0..{VOID}')
  return _LUT[label.astype(np.uint8)]


class CamVidSource(image_io.PairedSource):
  """Random-access CamVid: source[i] -> dict(image, label, id)."""
  num_classes = NUM_CLASSES
  class_names = CLASS_NAMES
  palette = PALETTE

  def __init__(self, root, split='train', list_file=None, indices=None):
    if not os.path.isdir(root):
      raise FileNotFoundError(f'CamVid root not found: {root}')
    self.root, self.split = root, split
    self.list_file = list_file or os.path.join(root, f'{split}.txt')
    self._pairs = read_pairs(root, self.list_file)
    if indices is not None:
      self._pairs = [self._pairs[i] for i in np.asarray(indices, np.int64).tolist()]

  def __getitem__(self, i):
    image_path, label_path = self._pairs[i]
    image, label = image_io.read_image(image_path), read_label(label_path)
    if image.shape[:2] != label.shape:
      raise errors.DataError(f'size mismatch: image {image_path} is {image.shape[:2]}, '
                             f'label {label_path} is {label.shape}')
    return dict(image=image, label=label, id=self.item_id(i))
