"""Losses against numbers worked out by hand."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from stseg_jax import losses


def _two_class_logits(true_probs):
  """Logits (1, 1, n, 2) whose class-1 probability is each of `true_probs`."""
  p = np.asarray(true_probs, np.float64)
  logit1 = np.log(p / (1 - p))
  logits = np.stack([np.zeros_like(logit1), logit1], -1)
  return jnp.asarray(logits[None, None], jnp.float32)


def test_cross_entropy_by_hand_with_ignore():
  logits = jnp.array([[[[0.0, math.log(3.0)], [5.0, -5.0]]]])  # (1,1,2,2)
  labels = jnp.array([[[1, 255]]])
  assert losses.cross_entropy(logits, labels) == pytest.approx(-math.log(0.75), rel=1e-6)


def test_cross_entropy_all_ignored_is_zero_not_nan():
  logits = jnp.ones((1, 2, 2, 3))
  labels = jnp.full((1, 2, 2), 255)
  assert float(losses.cross_entropy(logits, labels)) == 0.0


def test_cross_entropy_bf16_logits_computed_in_f32():
  logits = jnp.array([[[[0.0, math.log(3.0)]]]], jnp.bfloat16)
  loss = losses.cross_entropy(logits, jnp.array([[[1]]]))
  assert loss.dtype == jnp.float32
  assert float(loss) == pytest.approx(-math.log(0.75), rel=1e-2)


def test_ohem_keeps_pixels_below_threshold():
  logits = _two_class_logits([0.9, 0.6, 0.5, 0.95])
  labels = jnp.ones((1, 1, 4), jnp.int32)
  loss = losses.ohem_cross_entropy(logits, labels, thresh=0.7, min_kept=1)
  expected = (-math.log(0.6) - math.log(0.5)) / 2
  assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_ohem_min_kept_raises_threshold():
  logits = _two_class_logits([0.9, 0.6, 0.5, 0.95])
  labels = jnp.ones((1, 1, 4), jnp.int32)
  # Sorted probabilities 0.5, 0.6, 0.9, 0.95: the 3rd index (0.95) becomes the
  # threshold, so the three pixels below it count.
  loss = losses.ohem_cross_entropy(logits, labels, thresh=0.7, min_kept=3)
  expected = (-math.log(0.9) - math.log(0.6) - math.log(0.5)) / 3
  assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_ohem_ignores_ignored_pixels():
  logits = _two_class_logits([0.1, 0.6, 0.5])
  labels = jnp.array([[[255, 1, 1]]])
  loss = losses.ohem_cross_entropy(logits, labels, thresh=0.7, min_kept=0)
  assert float(loss) == pytest.approx((-math.log(0.6) - math.log(0.5)) / 2, rel=1e-5)


def test_ohem_gradient_flows_only_through_kept_pixels():
  logits = _two_class_logits([0.9, 0.5])
  labels = jnp.ones((1, 1, 2), jnp.int32)
  grad = jax.grad(lambda x: losses.ohem_cross_entropy(x, labels, min_kept=0))(logits)
  assert np.all(np.asarray(grad[0, 0, 0]) == 0)
  assert np.any(np.asarray(grad[0, 0, 1]) != 0)


def test_aux_weighting():
  logits = _two_class_logits([0.75])
  aux = _two_class_logits([0.5])
  labels = jnp.ones((1, 1, 1), jnp.int32)
  loss = losses.segmentation_loss({'logits': logits, 'aux_logits': aux}, labels,
                                  aux_weight=0.4)
  assert float(loss) == pytest.approx(-math.log(0.75) - 0.4 * math.log(0.5), rel=1e-5)


def test_soft_cross_entropy_equals_hard_for_one_hot_targets():
  rng = np.random.default_rng(0)
  logits = jnp.asarray(rng.normal(size=(2, 3, 4, 5)), jnp.float32)
  labels = jnp.asarray(rng.integers(0, 5, size=(2, 3, 4)))
  one_hot = jax.nn.one_hot(labels, 5)
  soft = losses.soft_cross_entropy(logits, one_hot, jnp.ones(labels.shape, bool))
  assert float(soft) == pytest.approx(float(losses.cross_entropy(logits, labels)), rel=1e-6)


def test_class_weighted_cross_entropy_by_hand():
  # Two labelled pixels, one ignored; log-probs worked out from the logits.
  logits = jnp.array([[[[2.0, 0.0], [0.0, 1.0], [5.0, 5.0]]]])
  labels = jnp.array([[[0, 1, 255]]])
  nll0 = np.log(1 + np.exp(-2.0))
  nll1 = np.log(1 + np.exp(-1.0))
  want = (1 * nll0 + 3 * nll1) / 4
  got = losses.cross_entropy(logits, labels, class_weights=np.array([1.0, 3.0]))
  np.testing.assert_allclose(got, want, rtol=1e-6)
  # OHEM with a threshold that keeps both labelled pixels weighs them the same way.
  got = losses.ohem_cross_entropy(logits, labels, thresh=1.0, min_kept=1,
                                  class_weights=np.array([1.0, 3.0]))
  np.testing.assert_allclose(got, want, rtol=1e-6)
  # Equal weights change nothing.
  np.testing.assert_allclose(losses.cross_entropy(logits, labels, class_weights=np.ones(2)),
                             losses.cross_entropy(logits, labels), rtol=1e-6)


def test_class_weights_by_hand():
  np.testing.assert_allclose(losses.class_weights([90, 10, 0], 'enet'),
                             [1 / np.log(1.92), 1 / np.log(1.12), 0.0], rtol=1e-6)
  np.testing.assert_allclose(losses.class_weights([60, 30, 10], 'median_frequency'),
                             [0.5, 1.0, 3.0], rtol=1e-6)
  with pytest.raises(ValueError, match='class_weighting'):
    losses.class_weights([1, 2], 'nope')


def test_topk_distribution_by_hand():
  # One pixel, 4 classes, top-2 (class 2: 0.6, class 0: 0.2): renormalised to 0.75/0.25.
  index = jnp.array([[[[2, 0]]]], jnp.uint8)
  prob = jnp.array([[[[0.6, 0.2]]]], jnp.float16)
  dense = losses.topk_distribution(index, prob, 4)
  np.testing.assert_allclose(dense[0, 0, 0], [0.25, 0.0, 0.75, 0.0], rtol=1e-3)
  # An ignored pixel (all probabilities 0) stays all 0.
  zero = losses.topk_distribution(index, jnp.zeros_like(prob), 4)
  np.testing.assert_array_equal(zero, 0.0)


def test_soft_segmentation_loss_one_hot_equals_hard_with_and_without_ohem():
  rng = np.random.default_rng(1)
  logits = jnp.asarray(rng.normal(size=(2, 6, 5, 4)), jnp.float32)
  labels = rng.integers(0, 4, size=(2, 6, 5))
  labels[0, 0, :3] = 255
  one_hot = jax.nn.one_hot(np.where(labels == 255, 0, labels), 4) * (labels != 255)[..., None]
  labels = jnp.asarray(labels)
  for ohem in (False, True):
    kw = dict(ohem=ohem, ohem_thresh=0.3, ohem_min_kept=10)
    hard = losses.segmentation_loss({'logits': logits}, labels, **kw)
    soft = losses.segmentation_loss({'logits': logits}, labels, soft_targets=one_hot, **kw)
    assert float(soft) == pytest.approx(float(hard), rel=1e-6)


def test_soft_loss_gradient_is_softmax_minus_target():
  """d/dlogits of the mean soft cross-entropy = (softmax - target) / pixels."""
  rng = np.random.default_rng(2)
  logits = jnp.asarray(rng.normal(size=(1, 2, 3, 5)), jnp.float32)
  target = rng.dirichlet(np.ones(5), size=(1, 2, 3)).astype(np.float32)
  labels = jnp.asarray(target.argmax(-1))
  grad = jax.grad(lambda l: losses.segmentation_loss({'logits': l}, labels,
                                                     soft_targets=jnp.asarray(target)))(logits)
  expected = (np.exp(logits) / np.exp(logits).sum(-1, keepdims=True) - target) / 6
  np.testing.assert_allclose(grad, expected, atol=1e-6)


def test_cross_entropy_gradient_is_softmax_minus_one_hot_by_hand():
  # Two pixels, 3 classes; pixel 1 ignored. d(mean nll)/d logits for the one
  # labelled pixel: softmax - one_hot (a count of 1); zero on the ignored one.
  logits = jnp.array([[[[0.0, math.log(2.0), math.log(5.0)], [1.0, 2.0, 3.0]]]])
  labels = jnp.array([[[1, 255]]])
  grad = jax.grad(lambda x: losses.cross_entropy(x, labels))(logits)
  np.testing.assert_allclose(grad[0, 0, 0], [1 / 8, 2 / 8 - 1, 5 / 8], rtol=1e-6)
  np.testing.assert_array_equal(grad[0, 0, 1], [0.0, 0.0, 0.0])


def test_pixel_nll_gradient_matches_autodiff_of_log_softmax():
  logits = jax.random.normal(jax.random.key(0), (2, 3, 4, 7)) * 3
  labels = jax.random.randint(jax.random.key(1), (2, 3, 4), 0, 7)
  cotangent = jax.random.normal(jax.random.key(2), labels.shape)
  ours = lambda x: jnp.sum(losses.pixel_nll(x, labels)[0] * cotangent)
  reference = lambda x: -jnp.sum(jnp.take_along_axis(
      jax.nn.log_softmax(x), labels[..., None], -1)[..., 0] * cotangent)
  np.testing.assert_allclose(ours(logits), reference(logits), rtol=1e-5)
  np.testing.assert_allclose(jax.grad(ours)(logits), jax.grad(reference)(logits),
                             rtol=1e-5, atol=1e-6)


def test_ohem_min_kept_counts_per_image():
  # Two images of 4 pixels, probabilities 0.5 0.6 0.9 0.95 each: min_kept=2
  # per image is 4 for the batch, so the threshold rises to the 5th (0.9) and
  # the four pixels below it count (0.5, 0.5, 0.6, 0.6).
  logits = jnp.concatenate([_two_class_logits([0.9, 0.6, 0.5, 0.95])] * 2, axis=0)
  labels = jnp.ones((2, 1, 4), jnp.int32)
  loss = losses.ohem_cross_entropy(logits, labels, thresh=0.7, min_kept=2)
  assert float(loss) == pytest.approx((-math.log(0.6) - math.log(0.5)) / 2, rel=1e-5)


def test_ohem_exempt_pixels_always_count_and_are_not_ranked():
  # Pixel probabilities 0.9, 0.6, 0.99 (exempt), 0.5 (exempt): OHEM at 0.7
  # ranks only the first two and keeps 0.6; both exempt pixels count anyway.
  logits = _two_class_logits([0.9, 0.6, 0.99, 0.5])
  labels = jnp.ones((1, 1, 4), jnp.int32)
  exempt = jnp.array([[[False, False, True, True]]])
  keep = losses.ohem_mask(logits, labels, thresh=0.7, min_kept=0, exempt=exempt)
  np.testing.assert_array_equal(keep[0, 0], [False, True, True, True])
  # min_kept counts ranked pixels only: 1 per image raises the threshold to
  # the second-hardest ranked pixel (0.9), which still keeps 0.6 alone.
  keep = losses.ohem_mask(logits, labels, thresh=0.0, min_kept=1, exempt=exempt)
  np.testing.assert_array_equal(keep[0, 0], [False, True, True, True])
  loss = losses.segmentation_loss({'logits': logits}, labels, ohem=True, ohem_thresh=0.7,
                                  ohem_min_kept=0, ohem_exempt=exempt)
  expected = (-math.log(0.6) - math.log(0.99) - math.log(0.5)) / 3
  assert float(loss) == pytest.approx(expected, rel=1e-5)
