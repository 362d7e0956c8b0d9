"""Online self-training: a teacher that labels each unlabeled batch inside the train step.

The form semi-supervised segmentation moved to after offline self-training
(FixMatch, Sohn et al. 2020; UniMatch, Yang et al. 2023, here without its
feature perturbation). With `config.pseudo.online` every step:

  1. the teacher, an exponential moving average of the student's weights
     (Mean Teacher, Tarvainen & Valpola 2017; `pseudo.ema_decay`), predicts
     the weak view of each unlabeled crop (the real crops' augmentation);
  2. its class becomes the label where it is at least `pseudo.online_threshold`
     confident, or with `pseudo.online_class_keep_fraction` also where the
     pixel is among that fraction of the most confident ones the teacher gives
     its class in this batch (CBST's class-balanced selection, per batch: a
     class the teacher is unsure of keeps pixels too); the others are ignored;
  3. the student learns the strong view of the same crop (the same geometry,
     with `pseudo.augment`'s colour jitter, grey and blur: data/pipeline.py),
     with CutMix between unlabeled crops applied to images and labels alike.

Real crops pass unchanged. `train.train_step` calls `student_batch` before its
loss and `ema_update` after its update; `with_ema` gives a state its teacher.
"""
import dataclasses

import jax
import jax.numpy as jnp

from stseg_jax import models
from stseg_jax import train_state
from stseg_jax.data.labels import IGNORE_LABEL
from stseg_jax.data.pseudo import filters


def with_ema(state):
  """`state` as an OnlineTrainState whose teacher is a copy of its current
  weights (a fresh run, or weights just loaded from another run)."""
  fields = {f.name: getattr(state, f.name) for f in dataclasses.fields(train_state.TrainState)}
  return train_state.OnlineTrainState(**fields, ema=jax.tree.map(jnp.copy, state.variables))


def ema_decay(decay, step):
  """The decay at update `step` (1, 2, ...): Mean Teacher's ramp, min(decay,
  1 - 1 / (step + 1)), so that early on the teacher is the plain average of
  the student's weights so far. Without it the random initial weights keep a
  share decay^step: at 0.999 a third of the teacher after 1,100 steps, and
  such a teacher was >= 0.95 confident nowhere (measured on the CamVid sweep)."""
  return jnp.minimum(decay, 1.0 - 1.0 / (step + 1.0))


def ema_update(ema, variables, decay, step):
  """The teacher moved towards the student at update `step`: d * teacher +
  (1 - d) * student, d = ema_decay(decay, step).

  Batch statistics too, so the teacher normalises as the weights it averages do.
  """
  d = ema_decay(decay, jnp.asarray(step, jnp.float32))
  return jax.tree.map(lambda t, s: d * t + (1 - d) * s, ema, variables)


def teacher_labels(model, ema, images, valid, threshold, class_keep_fraction=0.0):
  """The EMA teacher's class per pixel where `keep_mask` keeps it, else
  IGNORE_LABEL. Returns (labels, that mask)."""
  logits = model.apply(ema, images, train=False)['logits']
  probs = jax.nn.softmax(logits.astype(jnp.float32), axis=-1)
  classes, kept = keep_mask(probs, valid, threshold, class_keep_fraction)
  return jnp.where(kept, classes, IGNORE_LABEL).astype(jnp.uint8), kept


def keep_mask(probs, valid, threshold, class_keep_fraction=0.0):
  """The argmax class per pixel, and which pixels keep it: `valid` ones (an
  unlabeled crop's, not padding) whose probability is >= `threshold` or, with
  `class_keep_fraction`, among that top fraction of the valid pixels of their
  class (`class_floors`)."""
  confidence, classes = jnp.max(probs, axis=-1), jnp.argmax(probs, axis=-1)
  keep = confidence >= threshold
  if class_keep_fraction:
    level = confidence_levels(confidence)
    keep |= level >= class_floors(classes, level, valid, probs.shape[-1], class_keep_fraction)[classes]
  return classes, valid & keep


def confidence_levels(confidence):
  """Probabilities as the offline labels store them: levels 0..255 (multiples of 1/255)."""
  return jnp.round(confidence * 255).astype(jnp.int32)


def class_floors(classes, levels, counted, num_classes, keep_fraction):
  """Per class, the lowest confidence level of its top `keep_fraction` among the
  `counted` pixels the teacher gives it (the offline filter's rule, filters.py)."""
  counts = jnp.zeros((num_classes, 256), jnp.int32).at[classes, levels].add(
      counted.astype(jnp.int32))
  return filters.floor_levels(counts, keep_fraction, jnp)


def cutmix_masks(rng, rows, height, width, prob):
  """CutMix between the flagged `rows` of a batch, drawn on the device.

  Each flagged row, with probability `prob`, takes a box from the next flagged
  row (cyclically): a random position, the box's area a uniform fraction of
  the crop's (Yun et al. 2019), as the offline pipeline's CutMix draws it.
  Returns (partner index per row, (N, H, W) mask of the pasted pixels).
  """
  n = rows.shape[0]
  index = jnp.arange(n)
  order = jnp.argsort(jnp.where(rows, index, n + index))  # flagged rows first, in order
  rank = jnp.argsort(order)
  count = jnp.sum(rows)
  partner = order[(rank + 1) % jnp.maximum(count, 1)]
  k_apply, k_side, k_y, k_x = jax.random.split(rng, 4)
  apply = rows & (count >= 2) & (jax.random.uniform(k_apply, (n,)) < prob)
  side = jnp.sqrt(jax.random.uniform(k_side, (n,)))
  box_h = jnp.maximum(1, (height * side).astype(jnp.int32))
  box_w = jnp.maximum(1, (width * side).astype(jnp.int32))
  y = (jax.random.uniform(k_y, (n,)) * (height - box_h + 1)).astype(jnp.int32)
  x = (jax.random.uniform(k_x, (n,)) * (width - box_w + 1)).astype(jnp.int32)
  ys = jnp.arange(height)[None, :, None]
  xs = jnp.arange(width)[None, None, :]
  inside = ((ys >= y[:, None, None]) & (ys < (y + box_h)[:, None, None]) &
            (xs >= x[:, None, None]) & (xs < (x + box_w)[:, None, None]))
  return partner, apply[:, None, None] & inside


def paste(values, partner, mask):
  """`values` (N, H, W, ...) with each row's masked pixels taken from its partner row."""
  mask = mask.reshape(mask.shape + (1,) * (values.ndim - 3))
  return jnp.where(mask, values[partner], values)


def student_batch(model, ema, batch, pseudo, rng):
  """(images, labels, metrics) the student learns from this step.

  Real crops (batch['second'] == 0) as they are; unlabeled ones as their
  strong view (batch['strong']) with the teacher's labels of their weak view
  (batch['image']), CutMixed among themselves. Their batch['label'] marks
  only the crop's padding (IGNORE_LABEL): an unlabeled image's own labels,
  where a dataset has them, never reach the step. `pseudo`: config.pseudo.
  """
  unlabeled = batch['second'] > 0
  per_row = unlabeled[:, None, None]
  weak = models.normalize(batch['image'], model.dtype)
  valid = (batch['label'] != IGNORE_LABEL) & per_row
  labels, kept = teacher_labels(model, ema, weak, valid, pseudo.online_threshold,
                                pseudo.get('online_class_keep_fraction', 0.0))
  partner, box = cutmix_masks(rng, unlabeled, *batch['label'].shape[1:3],
                              pseudo.augment.cutmix_prob)
  strong = paste(models.normalize(batch['strong'], model.dtype), partner, box)
  labels = paste(labels, partner, box)
  images = jnp.where(per_row[..., None], strong, weak)
  labels = jnp.where(per_row, labels, batch['label'])
  # The share of the unlabeled crops' pixels the teacher labels: how much of
  # the unlabeled data the threshold lets through, over training.
  kept_fraction = (jnp.sum(kept) / jnp.maximum(jnp.sum(valid), 1)).astype(jnp.float32)
  return images, labels, {'online_kept_fraction': kept_fraction}
