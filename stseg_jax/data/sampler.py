"""What an epoch trains on: uniform images and class-uniform centroid crops.

Paper section 3.2: to see every class each epoch however rare, a class-uniform
item picks a class uniformly among those present, then one of its region
centroids uniformly, and the crop is centred there. Uniform items are whole
images (random crop), drawn without replacement where the epoch allows. The
epoch length is free (not a fixed iteration count as in [79]) so the ratio of
pseudo to real labels can be set directly (Table 2a).

An item is (image index, (y, x) centre or None). Everything is deterministic
given (seed, epoch): np.random.default_rng([seed, epoch]). How real and pseudo
items share an epoch is data/mixture.py.
"""
import numpy as np


def _rng(seed, epoch, stream):
  """Independent generator per (seed, epoch[, stream])."""
  return np.random.default_rng([seed, epoch] if stream is None else [seed, epoch, stream])


def uniform_images(rng, num_images, n):
  """n image indices: whole shuffled passes, then part of one more."""
  if n and not num_images:
    raise ValueError(f'{n} uniform items asked of a source with no images')
  passes = [rng.permutation(num_images) for _ in range(-(-n // max(num_images, 1)))]
  return np.concatenate(passes)[:n] if passes else np.zeros(0, np.int64)


def class_uniform_rows(rng, index, n):
  """n index rows: a class uniformly among those present, then a centroid in it."""
  classes = index.classes_present
  picked = rng.integers(0, classes.size, n)
  rows = np.empty(n, np.int64)
  for k, c in enumerate(classes):
    members = index.by_class[int(c)]
    where = np.nonzero(picked == k)[0]
    rows[where] = members[rng.integers(0, members.size, where.size)]
  return rows


def round_half_up(x):
  """round() with halves up, not to even: 0.5 * 3 items -> 2."""
  return int(np.floor(x + 0.5))


def epoch_items(index, num_images, num_items, *, class_uniform_fraction, seed, epoch, stream=None):
  """The epoch's items, shuffled: [(image index, (y, x) or None)].

  round(class_uniform_fraction * num_items) items are class-uniform centroid
  crops from `index`, the rest uniform images. With index None (or empty) all
  items are uniform. `stream` separates draws of several sources in one epoch.
  """
  if not 0.0 <= class_uniform_fraction <= 1.0:
    raise ValueError(f'class_uniform_fraction must be in [0, 1], got {class_uniform_fraction}')
  rng = _rng(seed, epoch, stream)
  has_centroids = index is not None and len(index) > 0
  n_cu = round_half_up(class_uniform_fraction * num_items) if has_centroids else 0
  items = [(int(i), None) for i in uniform_images(rng, num_images, num_items - n_cu)]
  if n_cu:
    rows = class_uniform_rows(rng, index, n_cu)
    items += [(int(index.image_ids[r]), tuple(float(v) for v in index.centroids[r])) for r in rows]
  return [items[i] for i in rng.permutation(len(items))]

