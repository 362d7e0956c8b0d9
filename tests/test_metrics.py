"""Metrics against a hand-worked example and scikit-learn."""
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from stseg_jax import metrics


def test_confusion_matrix_matches_sklearn_with_ignore():
  rng = np.random.default_rng(0)
  labels = rng.integers(0, 6, size=(3, 17, 23)).astype(np.uint8)
  labels[rng.random(labels.shape) < 0.2] = 255
  preds = rng.integers(0, 6, size=labels.shape)
  cm = metrics.confusion_matrix(jnp.asarray(preds), jnp.asarray(labels), 6)
  keep = labels != 255
  expected = sk_confusion_matrix(labels[keep], preds[keep], labels=range(6))
  np.testing.assert_array_equal(np.asarray(cm), expected)


def test_iou_by_hand_with_absent_class_nan():
  # gt:   0 0 1 1     pred: 0 1 1 1     class 2 never appears anywhere.
  cm = metrics.confusion_matrix(jnp.array([0, 1, 1, 1]), jnp.array([0, 0, 1, 1]), 3)
  iou = metrics.per_class_iou(cm)
  assert iou[0] == pytest.approx(1 / 2)   # tp 1, union 2
  assert iou[1] == pytest.approx(2 / 3)   # tp 2, union 3
  assert np.isnan(iou[2])
  summary = metrics.summarize(cm, ['a', 'b', 'c'])
  assert summary['miou'] == pytest.approx((1 / 2 + 2 / 3) / 2)
  assert summary['per_class_iou']['c'] is None
  assert summary['pixel_accuracy'] == pytest.approx(3 / 4)


def test_class_only_predicted_counts_as_zero():
  cm = metrics.confusion_matrix(jnp.array([2, 0]), jnp.array([0, 0]), 3)
  iou = metrics.per_class_iou(cm)
  assert iou[2] == 0.0
  assert metrics.summarize(cm, 'abc')['miou'] == pytest.approx((0.5 + 0.0) / 2)
