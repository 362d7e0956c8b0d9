"""The real and pseudo-labelled streams of a training run, and each epoch's items from them.

A run trains on the real stream (the labeled train split) and, when it has
one, a second stream, named explicitly by `second_stream(config)`:

  PSEUDO          a teacher's pseudo labels (config.pseudo.dir; data/pseudo/source.py)
  DUPLICATE_REAL  the real labels again in their place, the baseline of paper
                  Table 2b (config.pseudo.duplicate_real)
  ONLINE          the unlabeled images themselves (config.unlabeled), labelled in
                  the train step by its EMA teacher (config.pseudo.online; online.py)
  TRUTH           the unlabeled images with their true labels in place of a
                  teacher's: the ceiling of self-training on them
                  (config.pseudo.unlabeled_truth; needs a labeled unlabeled split)

An epoch has `num_real` real items (config.train.epoch_items, or one per
image) and round(config.pseudo.ratio * num_real) from the second stream
(paper Table 2a); with pseudo.only (pre-training on pseudo labels, Table 8)
the real items are left out. `Mixture` holds the streams and these counts,
computed once; `epoch_items` draws an epoch (sampler.py) from them, each
stream with its own centroid-sampling share, and `centroid_indexes` builds
the centroid index of each stream that samples by centroids.
"""
import dataclasses
from typing import Optional

import numpy as np

from stseg_jax.data import centroids
from stseg_jax.data.pseudo import source as pseudo_source
from stseg_jax.data import sampler
from stseg_jax.data import sources

PSEUDO = 'pseudo'
DUPLICATE_REAL = 'duplicate_real'
ONLINE = 'online'
TRUTH = 'unlabeled_truth'
# The second streams whose labels come from a teacher, not from people.
TAUGHT = (PSEUDO, ONLINE)

# The generator stream of each draw of an epoch (sampler.epoch_items' `stream`):
# the real and second streams' items, and the shuffle that mixes them.
_REAL, _SECOND, _MIX = 0, 1, 2


def second_stream(pseudo):
  """PSEUDO, DUPLICATE_REAL, ONLINE, TRUTH or None: what the run trains on beside
  the real labels (`pseudo`: config.pseudo)."""
  if pseudo.get('online'):  # .get: configs saved before the field existed
    return ONLINE
  if pseudo.get('unlabeled_truth'):
    return TRUTH
  if pseudo.dir:
    return PSEUDO
  if pseudo.duplicate_real:
    return DUPLICATE_REAL
  return None


def counts(train, pseudo, num_real_images, second=None):
  """(real, second-stream) items per epoch, for a real split of `num_real_images`
  (`train`, `pseudo`: config.train and config.pseudo)."""
  real = train.epoch_items or num_real_images
  if second is None:
    return real, 0
  other = sampler.round_half_up(pseudo.ratio * real)
  return (0, other) if pseudo.only else (real, other)


@dataclasses.dataclass(frozen=True)
class Mixture:
  """The train streams, position 0 real and 1 the second stream if any, and their
  items per epoch; `*_class_uniform` is each stream's centroid-sampling share."""
  sources: tuple
  second: Optional[str]
  num_real: int
  num_second: int
  real_class_uniform: float
  second_class_uniform: float
  soft_k: int = 0  # soft-label classes per pixel of the pseudo labels (0: hard labels)
  # Per stream, regions smaller than this get no centroid in the indexes built
  # here (pseudo labels bring their own).
  min_pixels: tuple = (0, 0)

  @property
  def items_per_epoch(self):
    return self.num_real + self.num_second

  @property
  def second_positions(self):
    """Positions in `sources` of the second stream (its crops are flagged)."""
    return (1,) if self.second else ()


def open_mixture(train, pseudo, data, real_source, unlabeled=None):
  """The run's Mixture over `real_source` and, per `pseudo`, its second stream
  (`train`, `pseudo`, `data`, `unlabeled`: config.train, config.pseudo,
  config.data, config.unlabeled)."""
  second = second_stream(pseudo)
  streams, soft_k = (real_source,), 0
  min_pixels = (train.centroid_min_pixels,) * 2
  if second in (ONLINE, TRUTH):  # online: images only, their own labels are never read
    streams += (sources.open_source(sources.unlabeled_data_config(data, unlabeled),
                                    unlabeled.split, labels=second == TRUTH),)
    if second == TRUTH:  # regions as the student's pseudo labels have them
      min_pixels = (train.centroid_min_pixels, pseudo.centroid_min_pixels)
  elif second == PSEUDO:
    labels = pseudo_source.open_student_source(pseudo, data, real_source)
    streams += (labels,)
    soft_k = labels.soft_k if pseudo.soft else 0
  elif second == DUPLICATE_REAL:
    streams += (real_source,)
  num_real, num_second = counts(train, pseudo, len(real_source), second)
  return Mixture(streams, second, num_real, num_second,
                 # With pseudo.only no real item is drawn: none by centroid.
                 0.0 if pseudo.only else train.class_uniform_fraction,
                 second_class_uniform(train, pseudo), soft_k, min_pixels)


def second_class_uniform(train, pseudo):
  """Centroid-sampling share of the second stream: the pseudo labels', or for
  the duplicate-real baseline the real stream's own (the teacher's sampling:
  the baseline must differ from the teacher's recipe only in what it repeats);
  unlabeled images have no regions to sample by (online: uniform crops)."""
  if second_stream(pseudo) == ONLINE:
    return 0.0
  if pseudo.duplicate_real:
    return train.class_uniform_fraction
  return pseudo.class_uniform_fraction


def epoch_items(mixture, indexes, seed, epoch):
  """The epoch's (stream position, image, centroid or None) items, shuffled.

  `indexes` holds each stream's centroid index or None (`centroid_indexes`).
  """
  sources = mixture.sources

  def draw(position, num_items, fraction, stream):
    items = sampler.epoch_items(indexes[position], len(sources[position]), num_items,
                                class_uniform_fraction=fraction, seed=seed, epoch=epoch,
                                stream=stream)
    return [(position, image, center) for image, center in items]

  if mixture.second is None:  # one stream: its own shuffle, no stream number
    return draw(0, mixture.num_real, mixture.real_class_uniform, None)
  second = draw(1, mixture.num_second, mixture.second_class_uniform, _SECOND)
  if not mixture.num_real:  # pseudo.only: the second stream's draws as in joint training
    return second
  items = draw(0, mixture.num_real, mixture.real_class_uniform, _REAL) + second
  order = np.random.default_rng([seed, epoch, _MIX]).permutation(len(items))
  return [items[i] for i in order]


def centroid_indexes(mixture, cache_dir):
  """Per stream, its centroid index when it samples by centroids, else None.

  Pseudo labels carry their own centroids; other sources are indexed once
  and cached in `cache_dir` (data/centroids.py), regions under the stream's
  `mixture.min_pixels` left out.
  """
  indexes = []
  fractions = (mixture.real_class_uniform, mixture.second_class_uniform)
  for position, (source, fraction) in enumerate(zip(mixture.sources, fractions)):
    if not fraction:
      indexes.append(None)
    elif hasattr(source, 'centroid_index'):
      indexes.append(source.centroid_index(cache_dir))
    elif position and source is mixture.sources[0] and indexes[0] is not None:
      indexes.append(indexes[0])  # the duplicate-real baseline: the same images
    else:
      indexes.append(centroids.build_index(
          source, source.num_classes, cache_dir=cache_dir,
          key=centroids.source_fingerprint(source), min_pixels=mixture.min_pixels[position]))
  return indexes
