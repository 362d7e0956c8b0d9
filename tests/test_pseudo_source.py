"""The student's pseudo-label source: id check, thresholds by hand, region minimum."""
import numpy as np
import pytest

from stseg_jax import errors
from stseg_jax.data import pseudo_example
from stseg_jax.data import pseudo_source


class _Records:
  """A PseudoLabelSource stand-in: records as dicts, a manifest with classes."""

  def __init__(self, records, class_names=('a', 'b', 'c')):
    self._records, self.class_names = records, class_names
    self.manifest = {'soft_topk': 0}

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
  np.testing.assert_allclose(pseudo_source.class_thresholds(records, 3, 0.5) * 255,
                             [153, 230, 0])  # class 0: 0.6 and up; class 1: 0.9; class 2: none
  source = pseudo_source.StudentPseudoSource(records, _images('x'), class_keep_fraction=0.5)
  np.testing.assert_array_equal(source[0]['label'], [[255, 255, 0, 0, 1, 255, 255]])


def test_confidence_threshold_ignores_unsure_pixels():
  records = _Records([_record('x', [[0, 1, 2, 1]], [[0.95, 0.5, 0.91, 0.89]])])
  source = pseudo_source.StudentPseudoSource(records, _images('x'), confidence_threshold=0.9)
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
  source = pseudo_source.StudentPseudoSource(records, _images('x'), confidence_threshold=0.9)
  index = source.centroid_index(str(tmp_path))
  rows = index.by_class[1]
  np.testing.assert_allclose(index.centroids[rows], [[0.5, 0.5]])  # the kept block only
  assert list(tmp_path.glob('centroids-*.npz'))  # cached for the next run
