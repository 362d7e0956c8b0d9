"""Which pixels of a pseudo label count: every pseudo-label filter, in one place.

A filter is `make(records, num_classes, value) -> keep`, where `keep(record)`
is the boolean mask of the record's pixels that count (the others become the
ignore label), and FILTERS names each with the config.pseudo field that sets
its value (0 or empty: off). The student's source (source.py) applies every
filter its config turns on, pseudo_quality scores each, and the labelling job
applies the one it is given (`pseudo_label.confidence_threshold`): confidences
are stored with the labels (`pseudo_label.store_confidence`), so one labelling
serves every filter and the student's are usually the only ones needed.

A new filter (entropy, region size, flip agreement, ...) is one `make`
function here, one FILTERS entry and its field in configs/default.py.
"""
import zlib

import numpy as np

from stseg_jax.data.labels import IGNORE_LABEL


def confidence_histograms(records, num_classes):
  """(num_classes, 256) counts of the stored confidence levels (multiples of
  1/255) of the pixels labelled with each class, over the whole set."""
  counts = np.zeros((num_classes, 256), np.int64)
  for i in range(len(records)):
    record = records[i]
    label, level = record['label'], np.rint(record['confidence'] * 255).astype(np.int64)
    valid = label < num_classes
    counts += np.bincount(label[valid].astype(np.int64) * 256 + level[valid],
                          minlength=num_classes * 256).reshape(num_classes, 256)
  return counts


def floor_levels(counts, keep_fraction, xp=np):
  """Per class, the lowest confidence level whose pixels at or above it make its
  top `keep_fraction` (a class without pixels: 0), from (classes, 256) level
  counts. `xp`: numpy here, jax.numpy inside online self-training's step."""
  above = xp.cumsum(counts[:, ::-1], axis=1)[:, ::-1]  # pixels at or above each level
  totals = above[:, 0]
  reached = above >= xp.ceil(keep_fraction * totals)[:, None]
  return xp.where(totals > 0, 255 - xp.argmax(reached[:, ::-1], axis=1), 0)


def class_thresholds(records, num_classes, keep_fraction):
  """Per class, the confidence above which its top `keep_fraction` of pixels lie
  (a class without pixels gets 0)."""
  levels = floor_levels(confidence_histograms(records, num_classes), keep_fraction)
  return levels.astype(np.float32) / 255


def class_keep_shares(records, num_classes, keep_fraction):
  """Per class, the share of its pixels `class_keep(keep_fraction)` keeps (at least
  `keep_fraction`: pixels tied at the floor's level are kept together)."""
  counts = confidence_histograms(records, num_classes)
  levels = floor_levels(counts, keep_fraction)
  above = np.cumsum(counts[:, ::-1], axis=1)[:, ::-1]
  kept = above[np.arange(num_classes), levels]
  return np.where(above[:, 0] > 0, kept / np.maximum(above[:, 0], 1), 0.0)


def confidence_at_least(records, num_classes, value):
  """Pixels whose teacher confidence is at least `value`."""
  del records, num_classes
  return lambda record: record['confidence'] >= value


def class_keep(records, num_classes, fraction):
  """Per class, its most confident `fraction` of the pixels labelled with it (class-balanced,
  as CBST, Zou et al. 2018): classes the teacher is unsure of keep pixels too."""
  floors = class_thresholds(records, num_classes, fraction)
  return lambda record: record['confidence'] >= floors[np.minimum(record['label'], num_classes - 1)]


def class_keep_random(records, num_classes, fraction):
  """Per class, as many of its pixels as `class_keep(fraction)` keeps, drawn at
  random instead of the most confident: class_keep's control, which tells
  cleaner labels apart from fewer pseudo pixels (more weight on the real ones).
  The same pixels every epoch: the draw is seeded by the image id."""
  shares = class_keep_shares(records, num_classes, fraction)

  def keep(record):
    label = record['label']
    rng = np.random.default_rng(zlib.crc32(str(record['id']).encode()))
    return rng.random(label.shape) < shares[np.minimum(label, num_classes - 1)]
  return keep


# name: (its field of config.pseudo, make)
FILTERS = {
    'confidence': ('confidence_threshold', confidence_at_least),
    'class_keep': ('class_keep_fraction', class_keep),
    'class_keep_random': ('class_keep_random_fraction', class_keep_random),
}


def settings_of(pseudo_config):
  """{filter name: value} of the filters config.pseudo turns on."""
  return {name: pseudo_config[field] for name, (field, _) in FILTERS.items()
          if pseudo_config.get(field)}


def combined(records, num_classes, settings):
  """One `keep(record)` of every filter in `settings` ({name: value}), or None for none."""
  keeps = [FILTERS[name][1](records, num_classes, value) for name, value in settings.items()
           if value]
  if not keeps:
    return None
  return lambda record: np.logical_and.reduce([keep(record) for keep in keeps])


def apply(label, mask):
  """`label` with the pixels outside `mask` ignored."""
  return np.where(mask, label, IGNORE_LABEL).astype(np.uint8)
