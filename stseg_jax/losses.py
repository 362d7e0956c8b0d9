"""Segmentation losses: cross-entropy with an ignore label, OHEM, soft targets.

All losses take float logits of shape (N, H, W, C) and integer labels of shape
(N, H, W); pixels equal to `ignore_label` contribute nothing. They compute in
float32 whatever the logits' dtype, and return a scalar mean over the pixels
that count (0 when none do, never NaN).
"""
import jax
import jax.numpy as jnp
import numpy as np


def pixel_nll(logits, labels, ignore_label=255):
  """Per-pixel negative log-likelihood and the mask of labelled pixels."""
  logits = logits.astype(jnp.float32)
  valid = labels != ignore_label
  safe_labels = jnp.where(valid, labels, 0).astype(jnp.int32)
  log_probs = jax.nn.log_softmax(logits, axis=-1)
  nll = -jnp.take_along_axis(log_probs, safe_labels[..., None], axis=-1)[..., 0]
  return nll, valid


def _masked_mean(values, mask):
  mask = mask.astype(jnp.float32)
  return jnp.sum(values * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def _weighted_mean(nll, mask, labels, class_weights):
  """Mean of `nll` over `mask`; with class weights, sum(w * nll) / sum(w) as in
  torch's weighted cross-entropy, so the loss keeps its scale."""
  if class_weights is None:
    return _masked_mean(nll, mask)
  weights = jnp.asarray(class_weights, jnp.float32)[jnp.where(mask, labels, 0)]
  weights = weights * mask.astype(jnp.float32)
  return jnp.sum(nll * weights) / jnp.maximum(jnp.sum(weights), 1e-12)


def class_weights(pixel_counts, method):
  """Per-class loss weights from training-set pixel counts.

  'enet': 1 / ln(1.02 + p_c), p_c the class's share of labelled pixels
  (Paszke et al. 2016, ENet); rare classes get up to ~50x, common ~3x.
  'median_frequency': median(p) / p_c (Eigen & Fergus 2015, SegNet).
  Classes without pixels get weight 0 (they never occur as a label).
  """
  counts = np.asarray(pixel_counts, np.float64)
  share = counts / max(counts.sum(), 1.0)
  present = counts > 0
  if method == 'enet':
    weights = 1.0 / np.log(1.02 + share)
  elif method == 'median_frequency':
    weights = np.median(share[present]) / np.where(present, share, 1.0)
  else:
    raise ValueError(f'config.loss.class_weighting: {method!r} is not one of '
                     "('', 'enet', 'median_frequency')")
  return np.where(present, weights, 0.0).astype(np.float32)


def cross_entropy(logits, labels, ignore_label=255, class_weights=None):
  """Mean cross-entropy over labelled pixels, optionally class-weighted."""
  nll, valid = pixel_nll(logits, labels, ignore_label)
  return _weighted_mean(nll, valid, labels, class_weights)


def ohem_mask(logits, labels, ignore_label=255, thresh=0.7, min_kept=100_000):
  """Pixels OHEM trains on: true-class probability below a threshold.

  As in the PSPNet / mmsegmentation recipe: the threshold is raised to the
  probability of the `min_kept`-th hardest labelled pixel of the batch when
  fewer than `min_kept` pixels fall below `thresh`, so at least about
  `min_kept` pixels (or all labelled ones, if fewer) always count.
  """
  nll, valid = pixel_nll(jax.lax.stop_gradient(logits), labels, ignore_label)
  prob = jnp.where(valid, jnp.exp(-nll), jnp.inf)  # ignored pixels sort last
  flat = jnp.sort(prob.reshape(-1))
  num_valid = jnp.sum(valid)
  kth = jnp.clip(jnp.minimum(min_kept, num_valid - 1), 0, flat.size - 1)
  threshold = jnp.maximum(flat[kth], thresh)
  return valid & (prob < threshold)


def ohem_cross_entropy(logits, labels, ignore_label=255, thresh=0.7,
                       min_kept=100_000, class_weights=None):
  """Cross-entropy averaged over the hard pixels chosen by `ohem_mask`."""
  nll, _ = pixel_nll(logits, labels, ignore_label)
  keep = ohem_mask(logits, labels, ignore_label, thresh, min_kept)
  return _weighted_mean(nll, keep, labels, class_weights)


def soft_cross_entropy(logits, target_probs, valid):
  """Cross-entropy to a teacher's probabilities (the paper's soft labels).

  Equals KL(target || prediction) up to the target's entropy, a constant for
  the student, so the gradients are the same.
  """
  log_probs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
  ce = -jnp.sum(target_probs.astype(jnp.float32) * log_probs, axis=-1)
  return _masked_mean(ce, valid)


def segmentation_loss(outputs, labels, *, ignore_label=255, ohem=False,
                      ohem_thresh=0.7, ohem_min_kept=100_000, aux_weight=0.4,
                      class_weights=None):
  """Main loss plus `aux_weight` times the auxiliary head's loss, if any."""
  def one(logits):
    if ohem:
      return ohem_cross_entropy(logits, labels, ignore_label, ohem_thresh,
                                ohem_min_kept, class_weights)
    return cross_entropy(logits, labels, ignore_label, class_weights)

  loss = one(outputs['logits'])
  if outputs.get('aux_logits') is not None and aux_weight:
    loss = loss + aux_weight * one(outputs['aux_logits'])
  return loss
