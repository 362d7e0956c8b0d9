"""A student's pseudo-labelled training source: the teacher's labels with their images.

`open_student_source(config, real_source)` opens the pseudo labels of
`config.pseudo.dir`, checks them against the real data (classes, teacher),
and pairs record i with image i of the unlabeled source the labelling job
read (checked by image id on every read). Pixels can be dropped to ignore
here rather than when labelling, so one labelling serves every threshold:

  pseudo.confidence_threshold   ignore pixels whose teacher confidence is below it
  pseudo.class_keep_fraction    per class, keep only its most confident fraction
                                of the pixels labelled with it (class-balanced,
                                as CBST, Zou et al. 2018), so classes the teacher
                                is unsure of keep pixels too; 0 = off

Both need labels made with `pseudo_label.store_confidence`.
"""
import dataclasses
import os

from etils import epath
import ml_collections
import numpy as np

from stseg_jax import errors
from stseg_jax.data import centroids
from stseg_jax.data import pseudo_manifest
from stseg_jax.data import pseudo_records
from stseg_jax.data import sources
from stseg_jax.data.labels import IGNORE_LABEL


def class_thresholds(records, num_classes, keep_fraction):
  """Per class, the confidence above which its top `keep_fraction` of pixels lie.

  From a histogram of the stored confidences (multiples of 1/255) of the
  pixels labelled with each class over the whole set; a class without pixels
  gets 0.
  """
  counts = np.zeros((num_classes, 256), np.int64)
  for i in range(len(records)):
    record = records[i]
    label, level = record['label'], np.rint(record['confidence'] * 255).astype(np.int64)
    valid = label < num_classes
    counts += np.bincount(label[valid].astype(np.int64) * 256 + level[valid],
                          minlength=num_classes * 256).reshape(num_classes, 256)
  # Highest level first: the smallest level whose pixels at or above it reach the fraction.
  above = np.cumsum(counts[:, ::-1], axis=1)[:, ::-1]
  totals = above[:, 0]
  reached = above >= np.ceil(keep_fraction * totals)[:, None]
  level = np.where(totals > 0, 255 - np.argmax(reached[:, ::-1], axis=1), 0)
  return level.astype(np.float32) / 255


def keep_confident(label, confidence, thresholds):
  """`label` with each pixel under its class's confidence floor (`thresholds[c]`) ignored."""
  floor = thresholds[np.minimum(label, len(thresholds) - 1)]
  return np.where(confidence >= floor, label, IGNORE_LABEL).astype(np.uint8)


def described_source(records, data_config, labels=False):
  """The source the pseudo labels were made from, as their manifest describes it.

  Fields the manifest lacks (added to configs/default.py since the labels were
  made) take `data_config`'s values.
  """
  described = records.manifest['source']
  data = ml_collections.ConfigDict({**data_config.to_dict(), **described['data']})
  return sources.open_source(data, described['split'], labels=labels)


@dataclasses.dataclass
class StudentPseudoSource:
  """Pseudo labels paired with their images; ignores the pixels the thresholds drop."""
  records: pseudo_records.PseudoLabelSource
  images: object
  confidence_threshold: float = 0.0
  class_keep_fraction: float = 0.0
  centroid_min_pixels: int = 0

  def __post_init__(self):
    self.class_names = self.records.class_names
    self.num_classes = len(self.class_names)
    self.ignore_label = IGNORE_LABEL
    self.soft_k = self.records.manifest.get('soft_topk', 0)  # classes kept per pixel
    if len(self.records) != len(self.images):
      raise errors.DataError(f'{self.records!r}: {len(self.records)} pseudo labels for '
                             f'{len(self.images)} images')
    self.thresholds = None
    if self.class_keep_fraction:
      self.thresholds = class_thresholds(self.records, self.num_classes,
                                         self.class_keep_fraction)
    if self.confidence_threshold:
      floor = np.full(self.num_classes, self.confidence_threshold, np.float32)
      self.thresholds = floor if self.thresholds is None else np.maximum(self.thresholds, floor)

  def __len__(self):
    return len(self.records)

  def __getitem__(self, i):
    record, image = self.records[i], self.images[i]
    if record['id'] != image['id']:
      # Shards cover the source in order; a changed image list breaks that.
      raise errors.DataError(
          f'{self.records!r}: pseudo label {i} is of image {record["id"]!r} but the unlabeled '
          f'source has {image["id"]!r} there (its image list changed since labelling)')
    label = record['label']
    if self.thresholds is not None:
      label = keep_confident(label, record['confidence'], self.thresholds)
    example = {'image': image['image'], 'label': label, 'id': record['id']}
    if 'topk_indices' in record:
      example['topk_indices'], example['topk_probs'] = record['topk_indices'], record['topk_probs']
    return example

  def centroid_index(self, cache_dir=None):
    """Centroids of the labels the student reads: the stored ones, or with
    thresholds the regions left after them (cached in `cache_dir`), so that no
    crop is centred on pixels the loss then ignores."""
    if self.thresholds is None:
      return self.records.centroid_index(self.num_classes, self.centroid_min_pixels)
    labels = _KeptLabels(self.records, self.thresholds)
    return centroids.build_index(labels, self.num_classes, cache_dir=cache_dir,
                                 key=centroids.source_fingerprint(labels),
                                 min_pixels=self.centroid_min_pixels)


@dataclasses.dataclass
class _KeptLabels:
  """The thresholded pseudo labels alone (no images decoded), for the centroid index."""
  records: pseudo_records.PseudoLabelSource
  thresholds: np.ndarray

  def __len__(self):
    return len(self.records)

  def __getitem__(self, i):
    record = self.records[i]
    return {'label': keep_confident(record['label'], record['confidence'], self.thresholds)}

  def __repr__(self):
    return f'_KeptLabels({self.records!r}, thresholds={self.thresholds.tolist()})'


def open_student_source(config, real_source):
  """The pseudo labels of `config.pseudo.dir`, checked against the real data."""
  directory = os.path.join(os.path.expanduser(config.pseudo.dir), 'pseudo')
  if not epath.Path(pseudo_manifest.manifest_path(directory, config.pseudo.name)).exists():
    raise FileNotFoundError(
        f'config.pseudo.dir: no {config.pseudo.name} manifest in {directory} '
        '(run stseg_jax.pseudo_label first)')
  records = pseudo_records.PseudoLabelSource(directory, config.pseudo.name)
  p = config.pseudo
  pseudo_manifest.validate_manifest(
      records.manifest, list(real_source.class_names),
      os.path.expanduser(p.teacher) if p.teacher else None)
  if p.soft and not records.manifest.get('soft_topk', 0):
    raise errors.ConfigError(
        f'config.pseudo.soft: the pseudo labels in {directory} have no soft labels '
        '(label them with pseudo_label.soft_topk > 0)')
  if (p.confidence_threshold or p.class_keep_fraction) and len(records) and \
      'confidence' not in records[0]:
    raise errors.ConfigError(
        f'config.pseudo.confidence_threshold / class_keep_fraction: the pseudo labels in '
        f'{directory} have no confidences (label them with pseudo_label.store_confidence=True)')
  images = described_source(records, config.data)
  return StudentPseudoSource(records, images, p.confidence_threshold, p.class_keep_fraction,
                             p.centroid_min_pixels)
