"""Labelled pixels per class over a training source, for class-weighted losses.

Counted once (one pass over the labels) and cached in the workdir as JSON,
keyed by the source's fingerprint, so a resumed run does not count again.
"""
import json
import os

from etils import epath
import numpy as np


def per_image_counts(source, num_classes):
  """(num_images, num_classes) int64: pixels of each class in each label map (ignore left out)."""
  counts = np.zeros((len(source), num_classes), np.int64)
  for i in range(len(source)):
    label = np.asarray(source[i]['label']).ravel()
    counts[i] = np.bincount(label[label < num_classes], minlength=num_classes)[:num_classes]
  return counts


def pixel_counts(source, num_classes):
  """(num_classes,) int64: how many pixels of each class `source`'s labels hold."""
  return per_image_counts(source, num_classes).sum(0)


def cached_pixel_counts(source, num_classes, path, key):
  """pixel_counts, read from / written to the JSON file `path` for content `key`."""
  path = epath.Path(path)
  if path.exists():
    cached = json.loads(path.read_text())
    if cached.get('key') == key and len(cached.get('counts', ())) == num_classes:
      return np.asarray(cached['counts'], np.int64)
  counts = pixel_counts(source, num_classes)
  tmp = path.with_name(f'{path.name}.tmp{os.getpid()}')
  tmp.write_text(json.dumps({'key': key, 'counts': counts.tolist()}))
  tmp.replace(path)
  return counts
