"""Image and label files read with errors that name the file, and the file-pair source they share.

CamVid, Cityscapes, KITTI, Mapillary and BDD100K all store an RGB image beside a
single-channel PNG of raw label values. A 256-entry table per dataset maps raw
values to train ids (255 = ignore); a second 256-entry table says which raw
values may appear at all, so a stray value is an error naming the file rather
than a silent ignore.
"""
import hashlib
import os
import zlib

import numpy as np
from PIL import Image

from stseg_jax import errors
from stseg_jax.data.labels import IGNORE_LABEL

LABEL_MODES = ('L', 'P', 'I', 'I;16', 'I;16B')


def open_image(path, modes):
  """A fully decoded PIL image of one of `modes`, or DataError naming the file."""
  try:
    with Image.open(path) as im:
      im.load()
  except (OSError, SyntaxError, ValueError, EOFError, zlib.error) as e:
    raise errors.DataError(f'corrupt or unreadable image {path}: {e}') from e
  if im.mode not in modes:
    raise errors.DataError(f'{path}: mode {im.mode}, expected one of {modes}')
  return im


def read_image(path):
  """HxWx3 uint8 RGB."""
  return np.asarray(open_image(path, ('RGB', 'RGBA', 'L', 'P')).convert('RGB'))


def read_raw(path):
  """HxW integer array of a single-channel PNG, values as stored (8, 16 or 32 bit)."""
  return np.asarray(open_image(path, LABEL_MODES))


def lookup_tables(pairs):
  """(lut, valid) 256-entry tables from (raw value, train id) pairs; unlisted values are invalid."""
  lut = np.full(256, IGNORE_LABEL, np.uint8)
  valid = np.zeros(256, bool)
  for raw, train_id in pairs:
    lut[raw], valid[raw] = train_id, True
  return lut, valid


def bad_values(raw, valid):
  """Sorted distinct values of `raw` that `valid` does not allow (first 10)."""
  raw = np.asarray(raw)
  if raw.dtype != np.uint8 and raw.size and (raw.min() < 0 or raw.max() > 255):
    outside = raw[(raw < 0) | (raw > 255)]
    return np.unique(outside)[:10].tolist()
  values = np.unique(raw)
  return values[~valid[values.astype(np.uint8)]][:10].tolist()


def read_label(path, lut, valid):
  """HxW uint8 train ids of the label PNG at `path`; a raw value outside the mapping is an error."""
  raw = read_raw(path)
  bad = bad_values(raw, valid)
  if bad:
    allowed = np.flatnonzero(valid).tolist()
    raise errors.DataError(f'{path}: label values {bad} outside the mapping '
                           f'(allowed {_ranges(allowed)})')
  return lut[raw.astype(np.uint8)]


def _ranges(values):
  """'0..33' or '0..18, 255' for a sorted list of ints."""
  parts, start = [], None
  for i, v in enumerate(values):
    start = v if start is None else start
    if i + 1 == len(values) or values[i + 1] != v + 1:
      parts.append(str(v) if start == v else f'{start}..{v}')
      start = None
  return ', '.join(parts)


def header_size(source, i):
  """(height, width) of item i from its image file's header (no decoding), or None
  when the source is not a PairedSource of files (synthetic scenes, tfds, pseudo
  labels, a resized view of files)."""
  if not isinstance(source, PairedSource):
    return None
  path = source.image_path(i)
  try:
    with Image.open(path) as image:
      return image.size[::-1]
  except OSError as e:
    raise errors.DataError(f'corrupt or unreadable image {path}: {e}') from e


def check_size(image_path, image, label_path, label):
  """ValueError naming both files when image and label heights/widths differ."""
  if image.shape[:2] != label.shape[:2]:
    raise errors.DataError(f'size mismatch: image {image_path} is {image.shape[:2]}, '
                           f'label {label_path} is {label.shape[:2]}')


def require_dir(path, what):
  """`path`, or FileNotFoundError saying which folder is missing."""
  if not os.path.isdir(path):
    raise FileNotFoundError(f'{what} not found: {path}')
  return path


def list_files(folder, suffix, what, recursive=False):
  """Sorted paths under `folder` ending in `suffix` (one level of subfolders if recursive)."""
  require_dir(folder, what)
  dirs = [folder]
  if recursive:  # Cityscapes keeps one subfolder per city.
    dirs = [os.path.join(folder, d) for d in sorted(os.listdir(folder))
            if os.path.isdir(os.path.join(folder, d))]
  paths = [os.path.join(d, f) for d in dirs for f in sorted(os.listdir(d)) if f.endswith(suffix)]
  if not paths:
    raise FileNotFoundError(f'no *{suffix} files in {what} {folder}')
  return paths


def require_files(pairs, what='label'):
  """Raise FileNotFoundError naming images whose partner file does not exist."""
  missing = [(a, b) for a, b in pairs if b is not None and not os.path.isfile(b)]
  if missing:
    examples = '; '.join(f'{a} has no {what} {b}' for a, b in missing[:3])
    raise FileNotFoundError(f'{len(missing)} image(s) without their {what}, e.g. {examples}')


def stem(path, suffix):
  """File name without `suffix` (e.g. '_leftImg8bit.png')."""
  name = os.path.basename(path)
  return name[:-len(suffix)] if suffix and name.endswith(suffix) else os.path.splitext(name)[0]


class PairedSource:
  """Base for random access over (image, label or None, ...) file tuples in `self._pairs`.

  Its interface beyond a source's: `image_path(i)` and `item_id(i)`, known
  from the file list without reading the files.
  """
  ignore_label = IGNORE_LABEL
  image_suffix = ''
  label_lut = label_valid = None

  def __len__(self):
    return len(self._pairs)

  def image_path(self, i):
    return self._pairs[i][0]

  def item_id(self, i):
    return stem(self._pairs[i][0], self.image_suffix)

  def __getitem__(self, i):
    image_path, label_path = self._pairs[i][:2]
    item = dict(image=read_image(image_path), id=self.item_id(i))
    if label_path is not None:
      label = read_label(label_path, self.label_lut, self.label_valid)
      check_size(image_path, item['image'], label_path, label)
      item['label'] = label
    return item

  def subset(self, indices):
    """The items at `indices` (e.g. a seeded labelled fraction), as a new source."""
    sub = object.__new__(type(self))
    sub.__dict__.update(self.__dict__)
    sub._pairs = [self._pairs[i] for i in np.asarray(indices, np.int64).tolist()]
    return sub

  def __repr__(self):
    # The file list's digest makes subsets and layouts hash differently.
    digest = hashlib.sha256(repr(self._pairs).encode()).hexdigest()[:12]
    return (f'{type(self).__name__}(root={self.root!r}, split={self.split!r}, n={len(self)}, '
            f'files={digest})')
