"""k-shot splits: a few labelled images per class, for finetuning on a new domain
(paper section 3.4: "k labeled samples per class", with new categories).

Deterministic given the labels, k and the seed. Classes are served from the
rarest up, each topped up to k images that contain it with randomly chosen
unchosen images, so rare classes are not crowded out; a class present in
fewer than k images gets all of them.
"""
import hashlib

import numpy as np

from stseg_jax.data import class_stats


def kshot_indices(presence, k, seed):
  """Sorted image indices of a k-shot split from (num_images, num_classes) bool `presence`."""
  presence = np.asarray(presence, bool)
  rng = np.random.default_rng(seed)
  chosen = np.zeros(len(presence), bool)
  for c in np.argsort(presence.sum(0), kind='stable'):
    have = int(presence[chosen, c].sum())
    candidates = np.flatnonzero(presence[:, c] & ~chosen)
    need = min(k - have, len(candidates))
    if need > 0:
      chosen[rng.choice(candidates, need, replace=False)] = True
  return np.flatnonzero(chosen)


def class_presence(source, min_pixels=1):
  """(num_images, num_classes) bool: which classes have >= min_pixels pixels in each label."""
  return class_stats.per_image_counts(source, source.num_classes) >= min_pixels


class Subset:
  """The items of `source` at `indices`; everything else (class names, ...) is the source's."""

  def __init__(self, source, indices):
    self.source = source
    self.indices = np.asarray(indices, np.int64)

  def __len__(self):
    return len(self.indices)

  def __getitem__(self, i):
    return self.source[int(self.indices[i])]

  def __getattr__(self, name):
    if name in ('source', 'indices') or name.startswith('__'):  # unpickling: no recursion
      raise AttributeError(name)
    return getattr(self.source, name)

  def __repr__(self):
    digest = hashlib.sha256(self.indices.tobytes()).hexdigest()[:12]
    return f'Subset({self.source!r}, n={len(self)}, indices={digest})'


def subset(source, indices):
  """source.subset(indices) where the source has one (same type, same file list), else Subset."""
  if hasattr(type(source), 'subset'):
    return source.subset(indices)
  return Subset(source, indices)
