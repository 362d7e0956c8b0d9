"""Segmentation losses: cross-entropy with an ignore label, OHEM, soft targets.

All losses take float logits of shape (N, H, W, C) and integer labels of shape
(N, H, W); pixels equal to `ignore_label` contribute nothing. They compute in
float32 whatever the logits' dtype, and return a scalar mean over the pixels
that count (0 when none do, never NaN).
"""
import jax
import jax.numpy as jnp
import numpy as np

from stseg_jax.data.labels import IGNORE_LABEL


def pixel_nll(logits, labels, ignore_label=IGNORE_LABEL):
  """Per-pixel negative log-likelihood and the mask of labelled pixels."""
  valid = labels != ignore_label
  return _label_nll(logits.astype(jnp.float32), labels.astype(jnp.int32)), valid


@jax.custom_vjp
def _label_nll(logits, labels):
  """logsumexp(logits) - logits[label], per pixel.

  A one-hot select, not take_along_axis (a gather's gradient is a
  scatter-add, a serial loop on CPU), and a written-out gradient,
  softmax - one_hot, one elementwise pass where autodiff of log_softmax
  stores and revisits its intermediates. An ignored pixel's label selects
  no class; the callers' masks drop it.
  """
  return _label_nll_fwd(logits, labels)[0]


def _label_nll_fwd(logits, labels):
  one_hot = labels[..., None] == jnp.arange(logits.shape[-1])
  lse = jax.nn.logsumexp(logits, axis=-1)
  nll = lse - jnp.sum(jnp.where(one_hot, logits, 0.0), axis=-1)
  return nll, (logits, lse, labels)


def _label_nll_bwd(residuals, g):
  logits, lse, labels = residuals
  one_hot = labels[..., None] == jnp.arange(logits.shape[-1])
  return (jnp.exp(logits - lse[..., None]) - one_hot) * g[..., None], None


_label_nll.defvjp(_label_nll_fwd, _label_nll_bwd)


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


# config.loss.class_weighting -> per-class weights from the classes' pixel shares p
# (those present; classes without pixels get weight 0, they never occur as a label).
CLASS_WEIGHTINGS = {
    # 1 / ln(1.02 + p_c) (Paszke et al. 2016, ENet): rare classes get up to ~50x, common ~3x.
    'enet': lambda share, present: 1.0 / np.log(1.02 + share),
    # median(p) / p_c (Eigen & Fergus 2015, SegNet).
    'median_frequency': lambda share, present: np.median(share[present]) / np.where(
        present, share, 1.0),
}


def class_weights(pixel_counts, method):
  """Per-class loss weights from training-set pixel counts, by a CLASS_WEIGHTINGS method."""
  if method not in CLASS_WEIGHTINGS:
    raise ValueError(f'config.loss.class_weighting: {method!r} is not one of '
                     f'{("", *CLASS_WEIGHTINGS)}')
  counts = np.asarray(pixel_counts, np.float64)
  share = counts / max(counts.sum(), 1.0)
  present = counts > 0
  weights = CLASS_WEIGHTINGS[method](share, present)
  return np.where(present, weights, 0.0).astype(np.float32)


def cross_entropy(logits, labels, ignore_label=IGNORE_LABEL, class_weights=None):
  """Mean cross-entropy over labelled pixels, optionally class-weighted."""
  nll, valid = pixel_nll(logits, labels, ignore_label)
  return _weighted_mean(nll, valid, labels, class_weights)


@jax.named_scope('ohem')  # profiles (bench/suite.py) tell the selection apart by this name
def ohem_mask(logits, labels, ignore_label=IGNORE_LABEL, thresh=0.7, min_kept=100_000, exempt=None):
  """Pixels OHEM trains on: true-class probability below a threshold.

  As in the PSPNet / mmsegmentation recipe: the threshold is raised to the
  probability of the (`min_kept` x images)-th hardest labelled pixel of the
  batch when fewer pixels fall below `thresh`, so at least about `min_kept`
  pixels per image (or all labelled ones, if fewer) count; mmsegmentation's
  `min_kept` is per image too.

  `exempt` (bool, the labels' shape): labelled pixels that always count and
  take no part in the ranking. Pseudo labels are exempt by default
  (config.loss.ohem_pseudo): a teacher's labels are least reliable exactly
  where the student finds them hard, so OHEM on them trains mostly on the
  teacher's mistakes (measured on the demo's labels: OHEM kept 85-87% of the
  wrong ones).
  """
  nll, valid = pixel_nll(jax.lax.stop_gradient(logits), labels, ignore_label)
  ranked = valid if exempt is None else valid & ~exempt
  prob = jnp.where(ranked, jnp.exp(-nll), jnp.inf)  # unranked pixels sort last
  flat = jnp.sort(prob.reshape(-1))
  kth = jnp.clip(jnp.minimum(min_kept * labels.shape[0], jnp.sum(ranked) - 1), 0, flat.size - 1)
  keep = ranked & (prob < jnp.maximum(flat[kth], thresh))
  return keep if exempt is None else keep | (valid & exempt)


def ohem_cross_entropy(logits, labels, ignore_label=IGNORE_LABEL, thresh=0.7,
                       min_kept=100_000, class_weights=None, exempt=None):
  """Cross-entropy averaged over the hard pixels chosen by `ohem_mask`."""
  nll, _ = pixel_nll(logits, labels, ignore_label)
  keep = ohem_mask(logits, labels, ignore_label, thresh, min_kept, exempt)
  return _weighted_mean(nll, keep, labels, class_weights)


def pixel_soft_nll(logits, target_probs):
  """Per-pixel cross-entropy to target distributions (the paper's soft labels).

  Equals KL(target || prediction) up to the target's entropy, a constant for
  the student, so the gradients are the same.
  """
  log_probs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
  return -jnp.sum(target_probs.astype(jnp.float32) * log_probs, axis=-1)


def soft_cross_entropy(logits, target_probs, valid):
  """Mean cross-entropy to target distributions over the `valid` pixels."""
  return _masked_mean(pixel_soft_nll(logits, target_probs), valid)


def topk_distribution(index, prob, num_classes):
  """Dense (..., C) targets from K class ids and their probabilities.

  The teacher's top-K mass is renormalised to 1 (the classes left out get 0);
  pixels whose K probabilities are all 0 (ignored, padding) stay all 0.
  """
  prob = prob.astype(jnp.float32)
  dense = jnp.sum(jax.nn.one_hot(index, num_classes, dtype=jnp.float32) * prob[..., None],
                  axis=-2)
  return dense / jnp.maximum(jnp.sum(prob, axis=-1, keepdims=True), 1e-12)


@jax.named_scope('loss')
def segmentation_loss(outputs, labels, *, ignore_label=IGNORE_LABEL, ohem=False,
                      ohem_thresh=0.7, ohem_min_kept=100_000, ohem_exempt=None,
                      aux_weight=0.4, class_weights=None, soft_targets=None):
  """Main loss plus `aux_weight` times the auxiliary head's loss, if any.

  With `soft_targets` (dense (N, H, W, C) probabilities) each pixel's
  cross-entropy is to its target distribution instead of its label; the
  label still decides which pixels count (ignore label, OHEM's choice by the
  probability of the label's class) and the class weights. `ohem_exempt`:
  pixels OHEM keeps without ranking them (see `ohem_mask`).
  """
  def one(logits):
    if soft_targets is not None:
      nll = pixel_soft_nll(logits, soft_targets)
      keep = (ohem_mask(logits, labels, ignore_label, ohem_thresh, ohem_min_kept, ohem_exempt)
              if ohem else labels != ignore_label)
      return _weighted_mean(nll, keep, labels, class_weights)
    if ohem:
      return ohem_cross_entropy(logits, labels, ignore_label, ohem_thresh,
                                ohem_min_kept, class_weights, ohem_exempt)
    return cross_entropy(logits, labels, ignore_label, class_weights)

  loss = one(outputs['logits'])
  if outputs.get('aux_logits') is not None and aux_weight:
    loss = loss + aux_weight * one(outputs['aux_logits'])
  return loss
