"""Segmentation metrics from a confusion matrix.

Convention: rows are ground truth, columns are predictions. Pixels labelled
`ignore_label` are left out. A class absent from both ground truth and
prediction over the whole evaluation has no IoU: it is reported as NaN and
left out of the mean (the Cityscapes / mmsegmentation convention). A class
present only in the prediction has IoU 0 and counts.
"""
import jax.numpy as jnp
import numpy as np

from stseg_jax.data.labels import IGNORE_LABEL


def confusion_matrix(preds, labels, num_classes, ignore_label=IGNORE_LABEL):
  """(C, C) int32 counts of (label, prediction) pairs; jit- and shard-friendly."""
  labels = labels.astype(jnp.int32)
  valid = (labels != ignore_label) & (labels >= 0) & (labels < num_classes)
  index = jnp.where(valid, labels * num_classes + preds.astype(jnp.int32), 0)
  counts = jnp.bincount(index.reshape(-1), weights=valid.reshape(-1).astype(jnp.int32),
                        length=num_classes * num_classes)
  return counts.reshape(num_classes, num_classes).astype(jnp.int32)


def per_class_iou(cm):
  """IoU per class from a confusion matrix, NaN where the union is empty."""
  cm = np.asarray(cm, dtype=np.float64)
  tp = np.diag(cm)
  union = cm.sum(0) + cm.sum(1) - tp
  with np.errstate(invalid='ignore', divide='ignore'):
    return np.where(union > 0, tp / union, np.nan)


def summarize(cm, class_names):
  """mIoU, per-class IoU by name, pixel accuracy and the matrix, as a dict."""
  cm = np.asarray(cm, dtype=np.int64)
  iou = per_class_iou(cm)
  total = cm.sum()
  return {
      'miou': float(np.nanmean(iou)) if np.any(~np.isnan(iou)) else float('nan'),
      'per_class_iou': {name: (None if np.isnan(v) else float(v))
                        for name, v in zip(class_names, iou)},
      'pixel_accuracy': float(np.trace(cm) / total) if total else float('nan'),
      'confusion_matrix': cm.tolist(),
      'num_pixels': int(total),
  }
