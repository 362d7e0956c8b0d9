"""A student's pseudo-labelled training source: the teacher's labels with their images.

`open_student_source(config.pseudo, config.data, real_source)` opens the pseudo
labels of `config.pseudo.dir`, checks them against the real data (classes, teacher),
and pairs record i with image i of the unlabeled source the labelling job
read (checked by image id on every read). The filters config.pseudo turns on
(filters.py: a confidence floor, class-balanced thresholds, ...) drop pixels
to ignore here rather than when labelling, so one labelling serves every
filter; they need labels made with `pseudo_label.store_confidence`.
"""
import dataclasses
import os

from etils import epath
import ml_collections

from stseg_jax import errors
from stseg_jax.data import centroids
from stseg_jax.data import sources
from stseg_jax.data.labels import IGNORE_LABEL
from stseg_jax.data.pseudo import filters as filters_lib
from stseg_jax.data.pseudo import manifest as pseudo_manifest
from stseg_jax.data.pseudo import records as pseudo_records


def described_source(records, data_config, labels=False):
  """The source the pseudo labels were made from, as their manifest describes it.

  Fields the manifest lacks (added to configs/default.py since the labels were
  made) take `data_config`'s values.
  """
  described = records.manifest.source
  data = ml_collections.ConfigDict({**data_config.to_dict(), **described['data']})
  return sources.open_source(data, described['split'], labels=labels)


@dataclasses.dataclass
class StudentPseudoSource:
  """Pseudo labels paired with their images; the pixels `filters` drop are ignored.

  `filters`: {name: value} of filters.FILTERS (filters.settings_of(config.pseudo)).
  """
  records: pseudo_records.PseudoLabelSource
  images: object
  filters: dict = dataclasses.field(default_factory=dict)
  centroid_min_pixels: int = 0

  def __post_init__(self):
    self.class_names = self.records.class_names
    self.num_classes = len(self.class_names)
    self.ignore_label = IGNORE_LABEL
    self.soft_k = self.records.manifest.soft_topk  # classes kept per pixel
    if len(self.records) != len(self.images):
      raise errors.DataError(f'{self.records!r}: {len(self.records)} pseudo labels for '
                             f'{len(self.images)} images')
    self.keep = filters_lib.combined(self.records, self.num_classes, self.filters)

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
    if self.keep is not None:
      label = filters_lib.apply(label, self.keep(record))
    example = {'image': image['image'], 'label': label, 'id': record['id']}
    if 'topk_indices' in record:
      example['topk_indices'], example['topk_probs'] = record['topk_indices'], record['topk_probs']
    return example

  def centroid_index(self, cache_dir=None):
    """Centroids of the labels the student reads: the stored ones, or with
    filters the regions left after them (cached in `cache_dir`), so that no
    crop is centred on pixels the loss then ignores."""
    if self.keep is None:
      return self.records.centroid_index(self.num_classes, self.centroid_min_pixels)
    labels = _KeptLabels(self.records, self.keep, dict(self.filters))
    # In this process: a filter's `keep` is a closure, which worker processes
    # cannot be sent (and label maps alone index in seconds).
    return centroids.build_index(labels, self.num_classes, cache_dir=cache_dir,
                                 key=centroids.source_fingerprint(labels),
                                 min_pixels=self.centroid_min_pixels, num_workers=0)


@dataclasses.dataclass
class _KeptLabels:
  """The filtered pseudo labels alone (no images decoded), for the centroid index."""
  records: pseudo_records.PseudoLabelSource
  keep: object
  filters: dict

  def __len__(self):
    return len(self.records)

  def __getitem__(self, i):
    record = self.records[i]
    return {'label': filters_lib.apply(record['label'], self.keep(record))}

  def __repr__(self):  # the cache key: the records and the filters
    return f'_KeptLabels({self.records!r}, filters={sorted(self.filters.items())})'


def open_student_source(pseudo, data, real_source):
  """The pseudo labels of config.pseudo.dir (`pseudo`: config.pseudo; `data`:
  config.data, which fills what their manifest does not say), checked against
  the real data."""
  directory = os.path.join(os.path.expanduser(pseudo.dir), 'pseudo')
  if not epath.Path(pseudo_manifest.manifest_path(directory, pseudo.name)).exists():
    raise FileNotFoundError(
        f'config.pseudo.dir: no {pseudo.name} manifest in {directory} '
        '(run stseg_jax.pseudo_label first)')
  records = pseudo_records.PseudoLabelSource(directory, pseudo.name)
  p = pseudo
  pseudo_manifest.validate_manifest(
      records.manifest, list(real_source.class_names),
      os.path.expanduser(p.teacher) if p.teacher else None)
  if p.soft and not records.manifest.soft_topk:
    raise errors.ConfigError(
        f'config.pseudo.soft: the pseudo labels in {directory} have no soft labels '
        '(label them with pseudo_label.soft_topk > 0)')
  settings = filters_lib.settings_of(p)
  if settings and len(records) and 'confidence' not in records[0]:
    fields = ', '.join(f'config.pseudo.{filters_lib.FILTERS[n][0]}' for n in settings)
    raise errors.ConfigError(
        f'{fields}: the pseudo labels in {directory} have no confidences (label them with '
        'pseudo_label.store_confidence=True)')
  images = described_source(records, data)
  return StudentPseudoSource(records, images, settings, p.centroid_min_pixels)
