"""BDD100K semantic segmentation: 19 Cityscapes classes, masks already in train ids (255 ignore).

Two layouts, found automatically (root is the unzipped `bdd100k` folder):
  current (2021+):  root/images/10k/<split>/<name>.jpg, root/labels/sem_seg/masks/<split>/<name>.png
  older (seg.zip):  root/seg/images/<split>/<name>.jpg, root/seg/labels/<split>/<name>_train_id.png
                    (images from root/images/10k/<split> when seg/images is absent)
<split> is train (7000) or val (1000); test has images only. Some early 10k image zips had a
few images without sem_seg masks (bdd100k issue #103); those are reported as missing labels.
"""
import os

from stseg_jax.data import cityscapes
from stseg_jax.data import image_io
from stseg_jax.data import palette as palette_lib

# Masks hold train ids 0..18 directly; 255 is the only other value allowed.
TRAIN_ID_LUT, VALID_TRAIN_IDS = image_io.lookup_tables(
    [(t, t) for t in range(cityscapes.NUM_CLASSES)] + [(255, 255)])


def find_layout(root, split):
  """(layout name, image folder, label folder or None, label suffix) of the layout that exists."""
  masks = os.path.join(root, 'labels', 'sem_seg', 'masks', split)
  old_labels = os.path.join(root, 'seg', 'labels', split)
  images_10k = os.path.join(root, 'images', '10k', split)
  old_images = os.path.join(root, 'seg', 'images', split)
  if os.path.isdir(masks):
    return 'current', images_10k, masks, '.png'
  if os.path.isdir(old_labels):
    # seg.zip shipped its own images; fall back to the 10k images beside it.
    return 'older', old_images if os.path.isdir(old_images) else images_10k, old_labels, \
        '_train_id.png'
  for name, images in (('current', images_10k), ('older', old_images)):
    if os.path.isdir(images):  # Images without labels: fine when labels=False.
      return name, images, None, None
  raise FileNotFoundError(f'BDD100K {split} not found in {root}: looked for {masks} '
                          f'(current layout) and {old_labels} (older layout)')


class BDD100KSource(image_io.PairedSource):
  """Random-access BDD100K sem_seg: source[i] -> dict(image, label, id)."""
  num_classes = cityscapes.NUM_CLASSES
  class_names = cityscapes.CLASS_NAMES
  palette = palette_lib.PALETTE
  label_lut, label_valid = TRAIN_ID_LUT, VALID_TRAIN_IDS

  def __init__(self, root, split='train', labels=True):
    image_io.require_dir(root, 'BDD100K root')
    self.root, self.split = root, split
    self.layout, image_dir, label_dir, suffix = find_layout(root, split)
    if labels and label_dir is None:
      raise FileNotFoundError(f'BDD100K {split}: images in {image_dir} but no label folder '
                              '(pass labels=False for images only)')
    images = image_io.list_files(image_dir, '.jpg', 'BDD100K image folder')
    if not labels:
      self._pairs = [(p, None) for p in images]
      return
    self._pairs = [(p, os.path.join(label_dir, image_io.stem(p, '.jpg') + suffix))
                   for p in images]
    image_io.require_files(self._pairs)
