"""Cityscapes instance-level IoU (iIoU) and category IoU / iIoU, as the official evaluation does.

Definitions follow cityscapesscripts 2.3.0 (evaluation/evalPixelLevelSemanticLabeling.py):
- Pixels whose ground truth is ignored (train id 255) never count.
- iIoU of an instance class c (person, rider, car, truck, bus, train, motorcycle, bicycle) is
  TP_w / (TP_w + FP + FN_w). Every ground-truth instance of c (instance id c_label_id * 1000 + k)
  adds its pixels predicted c to TP_w and its other pixels to FN_w, both weighted by
  AVG_INSTANCE_SIZE[c] / instance size, so a small object counts as much as a large one. FP is
  unweighted: pixels predicted c whose ground truth is another, non-ignored class. Crowd regions
  (class c without an instance id) add to neither TP_w nor FN_w nor FP.
- Category IoU: pixel IoU after merging classes into the 7 categories (flat .. vehicle).
- Category iIoU, for human and vehicle only (the categories whose classes all have instances):
  as iIoU, an instance pixel being a hit when predicted any class of its category.
- Means are over the classes / categories whose denominator is non-zero; an undefined score is
  None in the per-name dicts (like metrics.summarize) and left out of the mean.
"""
import numpy as np

from stseg_jax.data import cityscapes
from stseg_jax.data.labels import IGNORE_LABEL

NUM_CLASSES = cityscapes.NUM_CLASSES
CATEGORIES = cityscapes.CATEGORIES
INSTANCE_TRAIN_IDS = cityscapes.INSTANCE_TRAIN_IDS
# Categories whose every label has instances (license plate, id -1, never appears).
INSTANCE_CATEGORIES = tuple(
    cat for cat in CATEGORIES
    if all(inst for _, i, _, c, inst in cityscapes.LABELS if c == cat and i >= 0))

# Mean instance size in pixels per class over the Cityscapes training set: fixed constants of the
# official evaluation, so that iIoU is comparable across submissions.
AVG_INSTANCE_SIZE = {
    'person': 3462.4756337644, 'rider': 3930.4788056518, 'car': 12794.0202738185,
    'truck': 27855.1264367816, 'bus': 35732.1511111111, 'train': 67583.7075812274,
    'motorcycle': 6298.7200839748, 'bicycle': 4672.3249222261,
}
_AVG_SIZE = np.zeros(256)
_AVG_SIZE[list(INSTANCE_TRAIN_IDS)] = [AVG_INSTANCE_SIZE[cityscapes.CLASS_NAMES[t]]
                                       for t in INSTANCE_TRAIN_IDS]
# Category of each prediction column; the extra last column (predictions outside 0..18) has none.
_PRED_CATEGORY = np.append(cityscapes.TRAIN_ID_CATEGORY, -1)


def _ratio(num, den):
  """num / den, NaN for an empty denominator."""
  return float(num) / float(den) if den > 0 else float('nan')


def _named(names, values):
  """{name: float or None for NaN}."""
  return {n: (None if np.isnan(v) else float(v)) for n, v in zip(names, values)}


def _mean(values):
  """Mean of the defined (non-NaN) values, NaN if none is."""
  values = np.asarray(values, np.float64)
  return float(values[~np.isnan(values)].mean()) if (~np.isnan(values)).any() else float('nan')


class InstanceAccumulator:
  """Sums what iIoU and category IoU/iIoU need over an evaluation set; result() scores it."""

  def __init__(self, num_classes=19, gt_ids='train'):
    """gt_ids: 'train' (ground truth as train ids, 255 ignore) or 'label' (Cityscapes label ids)."""
    if num_classes != NUM_CLASSES:
      raise ValueError(f'iIoU is defined for the {NUM_CLASSES} Cityscapes train ids, '
                       f'got num_classes={num_classes}')
    if gt_ids not in ('train', 'label'):
      raise ValueError(f"gt_ids must be 'train' or 'label', got {gt_ids!r}")
    self.gt_ids = gt_ids
    # Rows: ground-truth train id; columns: prediction, the last one for anything outside 0..18.
    self.confusion = np.zeros((NUM_CLASSES, NUM_CLASSES + 1), np.int64)
    self.class_tp_w, self.class_fn_w = np.zeros(256), np.zeros(256)
    self.category_tp_w, self.category_fn_w = np.zeros(len(CATEGORIES)), np.zeros(len(CATEGORIES))

  def add(self, pred, gt, instance_ids):
    """Add an image (H, W) or batch (N, H, W): train-id predictions, ground truth, instance ids."""
    pred, gt, instance_ids = (np.asarray(a) for a in (pred, gt, instance_ids))
    if not pred.shape == gt.shape == instance_ids.shape or pred.ndim not in (2, 3):
      raise ValueError(f'pred {pred.shape}, gt {gt.shape} and instance_ids {instance_ids.shape} '
                       'must share one (H, W) or (N, H, W) shape')
    if pred.ndim == 3:  # Instance ids are per image: k-th car of two images are two instances.
      for args in zip(pred, gt, instance_ids):
        self.add(*args)
      return
    pred = np.where((pred >= 0) & (pred < NUM_CLASSES), pred, NUM_CLASSES).astype(np.int64)
    gt = self._gt_train_ids(gt)
    self._add_instances(pred, instance_ids)  # First: it may still reject the image.
    valid = gt != IGNORE_LABEL
    cells = gt[valid] * (NUM_CLASSES + 1) + pred[valid]
    self.confusion += np.bincount(cells, minlength=self.confusion.size).reshape(
        self.confusion.shape)

  def _gt_train_ids(self, gt):
    """Ground truth as int64 train ids (255 ignore), checked for values outside the mapping."""
    if self.gt_ids == 'label':
      bad = (gt < 0) | (gt > cityscapes.MAX_LABEL_ID)
      if bad.any():
        raise ValueError(f'ground-truth label ids {np.unique(gt[bad])[:10].tolist()} outside '
                         f'0..{cityscapes.MAX_LABEL_ID}')
      return cityscapes.ID_TO_TRAIN_ID[gt.astype(np.int64)].astype(np.int64)
    bad = ((gt < 0) | (gt >= NUM_CLASSES)) & (gt != IGNORE_LABEL)
    if bad.any():
      raise ValueError(f'ground-truth train ids {np.unique(gt[bad])[:10].tolist()} outside '
                       f'0..{NUM_CLASSES - 1} and 255')
    return gt.astype(np.int64)

  def _add_instances(self, pred, instance_ids):
    """Weighted hits and misses of every ground-truth instance of an evaluated instance class."""
    on = instance_ids >= 1000  # Below 1000: a plain label id (stuff or crowd), no instance.
    ids, inverse, sizes = np.unique(instance_ids[on].astype(np.int64), return_inverse=True,
                                    return_counts=True)
    label_ids = ids // 1000
    if (label_ids > cityscapes.MAX_LABEL_ID).any():
      raise ValueError(f'instance ids {ids[label_ids > cityscapes.MAX_LABEL_ID][:10].tolist()} '
                       f'do not decode to a label id 0..{cityscapes.MAX_LABEL_ID}')
    classes = cityscapes.ID_TO_TRAIN_ID[label_ids].astype(np.int64)
    # Caravan and trailer instances map to 255 and weigh 0: the official loop skips them.
    weights = _AVG_SIZE[classes] / sizes
    pixel_class, pixel_pred = classes[inverse], pred[on]
    hits = np.bincount(inverse, weights=pixel_pred == pixel_class, minlength=len(ids))
    categories = _PRED_CATEGORY[np.minimum(classes, NUM_CLASSES)]
    category_hits = np.bincount(
        inverse, weights=_PRED_CATEGORY[pixel_pred] == categories[inverse], minlength=len(ids))
    keep = weights > 0
    np.add.at(self.class_tp_w, classes[keep], (hits * weights)[keep])
    np.add.at(self.class_fn_w, classes[keep], ((sizes - hits) * weights)[keep])
    np.add.at(self.category_tp_w, categories[keep], (category_hits * weights)[keep])
    np.add.at(self.category_fn_w, categories[keep], ((sizes - category_hits) * weights)[keep])

  def result(self):
    """dict(iiou, per_class_iiou, category_iou, category_miou, category_iiou, category_iiou_mean)"""
    cm = self.confusion
    predicted = cm[:, :NUM_CLASSES]
    class_fp = predicted.sum(0) - np.diag(predicted)
    class_iiou = [_ratio(self.class_tp_w[c], self.class_tp_w[c] + self.class_fn_w[c] + class_fp[c])
                  for c in INSTANCE_TRAIN_IDS]
    category_iou, category_iiou = [], []
    for k, name in enumerate(CATEGORIES):
      member = cityscapes.TRAIN_ID_CATEGORY == k
      tp = predicted[member][:, member].sum()
      fn = cm[member].sum() - tp
      fp = predicted[~member][:, member].sum()
      category_iou.append(_ratio(tp, tp + fn + fp))
      if name in INSTANCE_CATEGORIES:
        tp_w, fn_w = self.category_tp_w[k], self.category_fn_w[k]
        category_iiou.append(_ratio(tp_w, tp_w + fn_w + fp))
    instance_names = [cityscapes.CLASS_NAMES[c] for c in INSTANCE_TRAIN_IDS]
    return {
        'iiou': _mean(class_iiou),
        'per_class_iiou': _named(instance_names, class_iiou),
        'category_iou': _named(CATEGORIES, category_iou),
        'category_miou': _mean(category_iou),
        'category_iiou': _named(INSTANCE_CATEGORIES, category_iiou),
        'category_iiou_mean': _mean(category_iiou),
    }
