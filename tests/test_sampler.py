"""Class-uniform and uniform epoch sampling on a deliberately imbalanced index."""

import numpy as np
import pytest

from stseg_jax.data import centroids, sampler

NUM_IMAGES = 360


def imbalanced_index():
  """'road' (0) in all 360 images, 'car' (1) in 36, 'motorcycle' (2) in image 7 only.

  Centroid y encodes the class (1000 * class + image) so items can be decoded.
  """
  per_image = []
  for i in range(NUM_IMAGES):
    found = {0: np.array([[i, 5.0]])}
    if i % 10 == 0:
      found[1] = np.array([[1000 + i, 5.0], [1000 + i, 9.0]])
    if i == 7:
      found[2] = np.array([[2007, 5.0]])
    per_image.append(found)
  return centroids.CentroidIndex.from_images(per_image, num_classes=3)


def chi_square_uniform(counts):
  counts = np.asarray(counts, float)
  expected = counts.sum() / counts.size
  return ((counts - expected) ** 2 / expected).sum()


def test_class_uniform_sampling_balances_classes():
  index = imbalanced_index()
  items = sampler.epoch_items(index, NUM_IMAGES, 3000, class_uniform_fraction=1.0, seed=0,
                              epoch=0)
  assert all(c is not None for _, c in items)
  classes = [int(c[0] // 1000) for _, c in items]
  counts = np.bincount(classes, minlength=3)
  # 2 degrees of freedom: P(chi2 > 13.8) = 0.001 under uniform class choice.
  assert chi_square_uniform(counts) < 13.8
  # Each item's image really holds that centroid.
  for image, (y, _) in items:
    assert image == int(y) % 1000


def test_uniform_sampling_follows_images_not_classes():
  items = sampler.epoch_items(imbalanced_index(), NUM_IMAGES, 3000, class_uniform_fraction=0.0,
                              seed=0, epoch=0)
  assert all(c is None for _, c in items)
  motorcycle_share = np.mean([i == 7 for i, _ in items])
  assert motorcycle_share < 0.01  # ~1/360, far from the 1/3 a class-uniform draw gives.
  counts = np.bincount([i for i, _ in items], minlength=NUM_IMAGES)
  assert counts.min() == 8 and counts.max() == 9  # 3000 = 8 passes + 120: no repeats beyond.


def test_uniform_items_are_a_permutation_when_they_fit():
  items = sampler.epoch_items(None, 10, 10, class_uniform_fraction=0.5, seed=1, epoch=0)
  assert sorted(i for i, _ in items) == list(range(10))
  assert all(c is None for _, c in items)


@pytest.mark.parametrize('fraction,num_items,expected', [(0.3, 101, 30), (0.5, 3, 2), (1.0, 7, 7),
                                                          (0.0, 7, 0), (0.25, 10, 3)])
def test_fraction_is_respected(fraction, num_items, expected):
  items = sampler.epoch_items(imbalanced_index(), NUM_IMAGES, num_items,
                              class_uniform_fraction=fraction, seed=0, epoch=3)
  assert len(items) == num_items
  assert sum(c is not None for _, c in items) == expected


def test_deterministic_given_seed_and_epoch():
  index = imbalanced_index()
  draw = lambda seed, epoch: sampler.epoch_items(index, NUM_IMAGES, 200, seed=seed, epoch=epoch,
                                                 class_uniform_fraction=0.5)
  assert draw(0, 1) == draw(0, 1)
  assert draw(0, 1) != draw(0, 2)
  assert draw(0, 1) != draw(1, 1)


def test_class_uniform_and_uniform_items_are_shuffled_together():
  items = sampler.epoch_items(imbalanced_index(), NUM_IMAGES, 100, class_uniform_fraction=0.5,
                              seed=0, epoch=0)
  kinds = [c is None for _, c in items]
  assert kinds != sorted(kinds) and kinds != sorted(kinds, reverse=True)


def test_bad_fraction_raises():
  with pytest.raises(ValueError):
    sampler.epoch_items(None, 5, 5, class_uniform_fraction=1.5, seed=0, epoch=0)
