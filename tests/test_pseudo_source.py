"""The student's pseudo-label source and its filters: id check, thresholds by hand, region
minimum, and a filter added the way a newcomer would."""
import ml_collections
import numpy as np
import pytest

from stseg_jax import errors
from stseg_jax.data.pseudo import example as pseudo_example
from stseg_jax.data.pseudo import filters
from stseg_jax.data.pseudo import manifest
from stseg_jax.data.pseudo import source as pseudo_source


class _Records:
  """A PseudoLabelSource stand-in: records as dicts, a manifest with classes."""

  def __init__(self, records, class_names=('a', 'b', 'c')):
    self._records, self.class_names = records, class_names
    self.manifest = manifest.Manifest(name='p', class_names=class_names, teacher={}, shards=())

  def __len__(self):
    return len(self._records)

  def __getitem__(self, i):
    return self._records[i]


def _record(image_id, label, confidence):
  return {'id': image_id, 'label': np.asarray(label, np.uint8),
          'confidence': np.rint(np.asarray(confidence, np.float32) * 255) / 255}


def _images(*ids):
  return [{'id': i, 'image': np.zeros((1, 4, 3), np.uint8)} for i in ids]


def test_class_keep_fraction_keeps_each_classs_most_confident_half():
  records = _Records([_record('x', [[0, 0, 0, 0, 1, 1, 255]],
                              [[0.2, 0.4, 0.6, 0.8, 0.9, 0.5, 0.1]])])
  np.testing.assert_allclose(filters.class_thresholds(records, 3, 0.5) * 255,
                             [153, 230, 0])  # class 0: 0.6 and up; class 1: 0.9; class 2: none
  source = pseudo_source.StudentPseudoSource(records, _images('x'), {'class_keep': 0.5})
  np.testing.assert_array_equal(source[0]['label'], [[255, 255, 0, 0, 1, 255, 255]])


def test_confidence_threshold_ignores_unsure_pixels():
  records = _Records([_record('x', [[0, 1, 2, 1]], [[0.95, 0.5, 0.91, 0.89]])])
  source = pseudo_source.StudentPseudoSource(records, _images('x'), {'confidence': 0.9})
  np.testing.assert_array_equal(source[0]['label'], [[0, 255, 2, 255]])


def test_record_of_another_image_is_an_error():
  records = _Records([_record('a', [[0, 1, 2, 1]], [[1, 1, 1, 1]]),
                      _record('b', [[0, 1, 2, 1]], [[1, 1, 1, 1]])])
  source = pseudo_source.StudentPseudoSource(records, _images('a', 'c'))
  assert source[0]['id'] == 'a'
  with pytest.raises(errors.DataError, match="pseudo label 1 is of image 'b'.*has 'c'"):
    source[1]  # pylint: disable=pointless-statement


def test_region_minimum_drops_small_regions_centroids():
  label = np.zeros((10, 10), np.uint8)
  label[0:2, 0:2] = 1  # a 4-pixel speck of class 1
  label[5:10, 5:10] = 2  # 25 pixels of class 2
  from stseg_jax.data import centroids
  record = pseudo_example.encode_example('x', '', label,
                                         centroids=centroids.regions_by_class(label, 3))
  assert set(pseudo_example.decode_centroids(record)) == {0, 1, 2}
  assert set(pseudo_example.decode_centroids(record, min_pixels=5)) == {0, 2}
  old = pseudo_example.encode_example('x', '', label,
                                      centroids=centroids.region_centroids(label, 3))
  assert set(pseudo_example.decode_centroids(old)) == {0, 1, 2}  # no sizes: all kept
  with pytest.raises(errors.DataError, match='without region sizes.*centroid_min_pixels=0'):
    pseudo_example.decode_centroids(old, min_pixels=5)


def test_thresholded_labels_are_indexed_after_the_threshold(tmp_path):
  # Class 1 drawn twice: a confident 2x2 block and an unsure 2x2 block.
  label = np.zeros((6, 8), np.uint8)
  label[0:2, 0:2] = 1
  label[4:6, 6:8] = 1
  confidence = np.full((6, 8), 0.95, np.float32)
  confidence[4:6, 6:8] = 0.3
  records = _Records([_record('x', label, confidence)])
  source = pseudo_source.StudentPseudoSource(records, _images('x'), {'confidence': 0.9})
  index = source.centroid_index(str(tmp_path))
  rows = index.by_class[1]
  np.testing.assert_allclose(index.centroids[rows], [[0.5, 0.5]])  # the kept block only
  assert list(tmp_path.glob('centroids-*.npz'))  # cached for the next run


def test_a_new_filter_is_one_function_and_one_field(monkeypatch):
  """An entropy filter over the teacher's stored top-k probabilities, added as a
  newcomer would: a `make` function, its FILTERS entry, its config field."""
  def low_entropy(records, num_classes, max_nats):
    del records, num_classes
    def keep(record):
      p = np.clip(record['topk_probs'].astype(np.float64), 1e-12, 1)
      return -(p * np.log(p)).sum(-1) <= max_nats
    return keep
  monkeypatch.setitem(filters.FILTERS, 'entropy', ('entropy_max', low_entropy))
  pseudo = ml_collections.ConfigDict({'confidence_threshold': 0.0, 'class_keep_fraction': 0.0,
                                      'entropy_max': 0.5})  # configs/default.py would hold it
  sure, unsure = [1.0, 0.0], [0.5, 0.5]  # entropy 0 and ln 2 = 0.69
  record = _record('x', [[0, 1]], [[1.0, 0.5]])
  record['topk_probs'] = np.array([[sure, unsure]], np.float16)
  record['topk_indices'] = np.zeros((1, 2, 2), np.uint8)
  source = pseudo_source.StudentPseudoSource(_Records([record]), _images('x'),
                                             filters.settings_of(pseudo))
  np.testing.assert_array_equal(source[0]['label'], [[0, 255]])


def test_class_keep_shares_count_pixels_tied_at_the_floor():
  # Class 0: three pixels at 1.0, one at 0.5; its top half (2) is reached at level 255,
  # which holds 3 of its 4 pixels. Class 1: 0.9 then 0.5: the top half is one pixel.
  records = _Records([_record('x', [[0, 0, 0, 0, 1, 1, 255]],
                              [[1.0, 1.0, 1.0, 0.5, 0.9, 0.5, 0.1]])])
  np.testing.assert_allclose(filters.class_keep_shares(records, 3, 0.5), [0.75, 0.5, 0.0])


def test_class_keep_random_keeps_class_keeps_share_per_class_whatever_the_confidence():
  rng = np.random.default_rng(0)
  label = (rng.random((200, 200)) < 0.3).astype(np.uint8)  # classes 0 and 1
  confidence = rng.random((200, 200))
  records = _Records([_record('x', label, confidence), _record('y', label, confidence)])
  shares = filters.class_keep_shares(records, 3, 0.25)
  keep = filters.class_keep_random(records, 3, 0.25)
  mask = keep(records[0])
  for c in (0, 1):
    assert abs(mask[label == c].mean() - shares[c]) < 0.02
  # Unlike class_keep, the kept pixels are as confident as the dropped ones.
  assert abs(confidence[mask].mean() - confidence[~mask].mean()) < 0.02
  np.testing.assert_array_equal(keep(records[0]), mask)  # the same pixels every epoch
  assert (keep(records[1]) != mask).any()  # another image, another draw
  source = pseudo_source.StudentPseudoSource(records, _images('x', 'y'),
                                             {'class_keep_random': 0.25})
  np.testing.assert_array_equal(source[0]['label'] != 255, mask)
