"""KITTI semantic segmentation (data_semantics.zip): Cityscapes label ids at varying sizes.

Layout:
  root/training/image_2/000000_10.png ... 000199_10.png   (about 375x1242, sizes vary)
  root/training/semantic/000000_10.png ...                (Cityscapes label ids 0..33)
  root/testing/image_2/*.png                              (no labels)
KITTI has no official validation set, so the 200 training images are split deterministically:
in sorted order, every 5th image (000004_10, 000009_10, ...) is 'val' (40 images), the rest
'train' (160); 'all' is all 200 and 'test' the unlabelled testing images.
"""
import os

from stseg_jax.data import cityscapes
from stseg_jax.data import image_io
from stseg_jax.data import palette as palette_lib

SPLITS = ('train', 'val', 'all', 'test')
VAL_EVERY = 5


def split_indices(n, split):
  """Indices of the sorted training images that form `split`."""
  if split == 'val':
    return [i for i in range(n) if i % VAL_EVERY == VAL_EVERY - 1]
  if split == 'train':
    return [i for i in range(n) if i % VAL_EVERY != VAL_EVERY - 1]
  return list(range(n))


class KittiSource(image_io.PairedSource):
  """Random-access KITTI semantics: source[i] -> dict(image, label, id)."""
  num_classes = cityscapes.NUM_CLASSES
  class_names = cityscapes.CLASS_NAMES
  palette = palette_lib.PALETTE
  label_lut, label_valid = cityscapes.ID_TO_TRAIN_ID, cityscapes.VALID_IDS

  def __init__(self, root, split='train', labels=True):
    if split not in SPLITS:
      raise ValueError(f'KITTI split {split!r} is not one of {SPLITS}')
    image_io.require_dir(root, 'KITTI root')
    self.root, self.split = root, split
    folder = os.path.join(root, 'testing' if split == 'test' else 'training')
    images = image_io.list_files(os.path.join(folder, 'image_2'), '.png', 'KITTI image folder')
    images = [images[i] for i in split_indices(len(images), split)]
    if split == 'test' or not labels:
      self._pairs = [(p, None) for p in images]
      return
    label_dir = image_io.require_dir(os.path.join(folder, 'semantic'), 'KITTI label folder')
    self._pairs = [(p, os.path.join(label_dir, os.path.basename(p))) for p in images]
    image_io.require_files(self._pairs)
