"""Segmentation losses: cross-entropy with an ignore label, OHEM, soft targets.

All losses take float logits of shape (N, H, W, C) and integer labels of shape
(N, H, W); pixels equal to `ignore_label` contribute nothing. They compute in
float32 whatever the logits' dtype, and return a scalar mean over the pixels
that count (0 when none do, never NaN).
"""
import jax
import jax.numpy as jnp


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


def cross_entropy(logits, labels, ignore_label=255):
  """Mean cross-entropy over labelled pixels."""
  nll, valid = pixel_nll(logits, labels, ignore_label)
  return _masked_mean(nll, valid)


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
                       min_kept=100_000):
  """Cross-entropy averaged over the hard pixels chosen by `ohem_mask`."""
  nll, _ = pixel_nll(logits, labels, ignore_label)
  keep = ohem_mask(logits, labels, ignore_label, thresh, min_kept)
  return _masked_mean(nll, keep)


def soft_cross_entropy(logits, target_probs, valid):
  """Cross-entropy to a teacher's probabilities (the paper's soft labels).

  Equals KL(target || prediction) up to the target's entropy, a constant for
  the student, so the gradients are the same.
  """
  log_probs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
  ce = -jnp.sum(target_probs.astype(jnp.float32) * log_probs, axis=-1)
  return _masked_mean(ce, valid)


def segmentation_loss(outputs, labels, *, ignore_label=255, ohem=False,
                      ohem_thresh=0.7, ohem_min_kept=100_000, aux_weight=0.4):
  """Main loss plus `aux_weight` times the auxiliary head's loss, if any."""
  def one(logits):
    if ohem:
      return ohem_cross_entropy(logits, labels, ignore_label, ohem_thresh,
                                ohem_min_kept)
    return cross_entropy(logits, labels, ignore_label)

  loss = one(outputs['logits'])
  if outputs.get('aux_logits') is not None and aux_weight:
    loss = loss + aux_weight * one(outputs['aux_logits'])
  return loss
