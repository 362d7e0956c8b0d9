"""pseudo_quality scores pseudo labels against the truth; numbers worked out by hand."""
import numpy as np
import pytest

from stseg_jax import errors
from stseg_jax import pseudo_quality
from stseg_jax.data.pseudo import example as pseudo_example
from stseg_jax.data.pseudo import filters
from stseg_jax.data.pseudo import records as pseudo_records

# One 2x4 image, classes 0 and 1. The truth is 0 on the left half, 1 on the right.
TRUTH = np.array([[0, 0, 1, 1],
                  [0, 0, 1, 1]], np.uint8)
# The teacher gets one right-half pixel wrong, at low confidence.
PSEUDO = np.array([[0, 0, 1, 1],
                   [0, 0, 0, 1]], np.uint8)
CONFIDENCE = np.array([[1.0, 1.0, 1.0, 1.0],
                       [0.8, 0.8, 0.2, 0.8]], np.float32)
# Region centroids: class 0's (3 px, inside the truth's 0s) and a 1-pixel speck
# of class 0 at (1, 2), where the truth is 1; class 1's region of 3 pixels.
CENTROIDS = {0: (np.array([[0.6, 0.8], [1.0, 2.0]]), np.array([5, 1])),
             1: (np.array([[0.3, 2.7]]), np.array([3]))}


@pytest.fixture
def records(tmp_path):
  data = pseudo_example.encode_example('a', 'a.png', PSEUDO, confidence=CONFIDENCE,
                                       centroids=CENTROIDS)
  pseudo_records.write_shard(str(tmp_path / pseudo_records.shard_name('pseudo', 0, 1)), [data])
  return pseudo_records.PseudoLabelSource(str(tmp_path), 'pseudo')


def test_scores_by_hand(records):
  result = pseudo_quality.score(records, [{'id': 'a', 'label': TRUTH}], ('zero', 'one'))
  everything = result['filters']['all']
  # Confusion (truth x pseudo): [[4, 0], [1, 3]]. IoU 0: 4 / (4 + 1) = 0.8; IoU 1: 3 / 4.
  assert everything['per_class_iou'] == pytest.approx({'zero': 0.8, 'one': 0.75})
  assert everything['pixel_accuracy'] == pytest.approx(7 / 8)
  assert everything['kept_fraction'] == 1.0
  # At confidence 0.7 the wrong pixel (0.2) goes: all 7 kept pixels are right.
  seventy = result['filters']['confidence_70']
  assert seventy['pixel_accuracy'] == 1.0 and seventy['kept_fraction'] == pytest.approx(7 / 8)
  # At 0.9 only the top row (1.0) stays.
  assert result['filters']['confidence_90']['kept_fraction'] == pytest.approx(4 / 8)
  # Class shares: the truth is half and half, the pseudo labels 5/8 zero.
  assert result['class_share']['zero'] == pytest.approx({'truth': 0.5, 'pseudo': 5 / 8})
  # Centroids: (0.6, 0.8) -> pixel (1, 1) truth 0, hit; (1, 2) truth 1, miss; (0.3, 2.7)
  # -> (0, 3) truth 1, hit. A minimum of 16 pixels keeps none.
  assert result['centroids']['min_pixels_0'] == {'centroids': 3, 'truth_has_the_class': 2 / 3}
  assert result['centroids']['min_pixels_16']['centroids'] == 0


def test_class_keep_half_keeps_each_classs_confident_half(records):
  result = pseudo_quality.score(records, [{'id': 'a', 'label': TRUTH}], ('zero', 'one'))
  half = result['filters']['class_keep_half']
  # Class 0's five pixels have confidences 1, 1, .8, .8, .2: its top half (3 of 5,
  # rounded up) lies at or above 0.8; class 1's three (1, 1, .8): 2 of 3, at 1.0.
  assert filters.class_thresholds(records, 2, 0.5) == pytest.approx([0.8, 1.0], abs=1 / 255)
  assert half['filter'] == {'class_keep': 0.5}
  assert half['kept_fraction'] == pytest.approx(6 / 8)


def test_a_truth_of_other_images_is_refused(records):
  with pytest.raises(errors.DataError, match="pseudo label 0 is of 'a'"):
    pseudo_quality.score(records, [{'id': 'b', 'label': TRUTH}], ('zero', 'one'))
