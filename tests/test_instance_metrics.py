"""Cityscapes iIoU and category IoU/iIoU: a case worked by hand, and cityscapesscripts on PNGs."""
import copy
import math
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from stseg_jax import instance_metrics
from stseg_jax.data import cityscapes

PERSON, RIDER, CAR, TRUCK, ROAD = 11, 12, 13, 14, 0
A = instance_metrics.AVG_INSTANCE_SIZE['person']
C = instance_metrics.AVG_INSTANCE_SIZE['car']


def hand_case():
  """2x8 image: person A (4 px) | car B (4 px) / road (4 px) | person C (2 px) | ignored (2 px)."""
  gt = np.array([[PERSON] * 4 + [CAR] * 4,
                 [ROAD] * 4 + [PERSON] * 2 + [255] * 2])
  instance = np.array([[24000] * 4 + [26000] * 4,
                       [7] * 4 + [24001] * 2 + [0] * 2])
  pred = np.array([[PERSON, PERSON, PERSON, RIDER, CAR, CAR, CAR, TRUCK],
                   [ROAD, ROAD, PERSON, ROAD, PERSON, ROAD, CAR, CAR]])
  return pred, gt, instance


def test_hand_worked_case():
  acc = instance_metrics.InstanceAccumulator()
  acc.add(*hand_case())
  r = acc.result()
  # person: A hits 3 of 4 (weight A/4), C hits 1 of 2 (weight A/2); FP 1 (road pixel).
  person = (3 * A / 4 + A / 2) / ((3 * A / 4 + A / 2) + (A / 4 + A / 2) + 1)
  # car: B hits 3 of 4, no FP (the car predictions at the bottom right are on ignored pixels).
  # rider and truck: no instances but 1 FP each -> 0; the other four classes are undefined.
  assert r['per_class_iiou']['person'] == pytest.approx(person, rel=1e-12)
  assert r['per_class_iiou']['car'] == pytest.approx(0.75, rel=1e-12)
  assert r['per_class_iiou']['rider'] == 0 and r['per_class_iiou']['truck'] == 0
  assert r['per_class_iiou']['bus'] is None and r['per_class_iiou']['bicycle'] is None
  assert r['iiou'] == pytest.approx((person + 0.75) / 4, rel=1e-12)
  # human: 5 of 6 ground-truth pixels hit, 1 road pixel predicted person; vehicle: 4/4, no FP;
  # flat: 3 of 4 road pixels hit, 1 person pixel predicted road.
  iou = r['category_iou']
  assert iou['human'] == pytest.approx(5 / 7) and iou['vehicle'] == 1
  assert iou['flat'] == pytest.approx(3 / 5) and iou['sky'] is None
  assert r['category_miou'] == pytest.approx((5 / 7 + 1 + 3 / 5) / 3)
  # human iIoU: A fully inside the category (rider counts), C half; FP 1.
  human = (A + A / 2) / (A + A / 2 + A / 2 + 1)
  assert r['category_iiou'] == {'human': pytest.approx(human), 'vehicle': 1.0}
  assert r['category_iiou_mean'] == pytest.approx((human + 1) / 2)


def test_label_ids_batches_and_errors():
  pred, gt, instance = hand_case()
  by_image = instance_metrics.InstanceAccumulator()
  for _ in range(2):
    by_image.add(pred, gt, instance)
  label_ids = np.where(gt == 255, 0, cityscapes.TRAIN_ID_TO_ID[np.minimum(gt, 18)])
  batched = instance_metrics.InstanceAccumulator(gt_ids='label')
  batched.add(np.stack([pred] * 2), np.stack([label_ids] * 2), np.stack([instance] * 2))
  assert batched.result() == by_image.result()
  with pytest.raises(ValueError, match=r'train ids \[19\]'):
    by_image.add(pred, np.full_like(gt, 19), instance)
  with pytest.raises(ValueError, match=r'label ids \[34\]'):
    batched.add(pred, np.full_like(gt, 34), instance)
  with pytest.raises(ValueError, match='40000'):
    by_image.add(pred, gt, np.full_like(instance, 40000))
  with pytest.raises(ValueError, match='shape'):
    by_image.add(pred[:1], gt, instance)
  with pytest.raises(ValueError, match='19 Cityscapes'):
    instance_metrics.InstanceAccumulator(num_classes=21)


def random_case(rng, h=24, w=32):
  """Label ids in 4x4 blocks, then instance rectangles (caravans and crowd regions included)."""
  label = rng.integers(0, 34, (h // 4, w // 4)).repeat(4, 0).repeat(4, 1).astype(np.uint8)
  instance = label.astype(np.int32)
  for k in range(8):
    cls = rng.integers(24, 34)
    y, x = rng.integers(0, h - 2), rng.integers(0, w - 2)
    dy, dx = rng.integers(2, 10), rng.integers(2, 12)
    label[y:y + dy, x:x + dx] = cls
    instance[y:y + dy, x:x + dx] = cls * 1000 + k if k < 6 else cls  # The last two: crowd.
  train = cityscapes.ID_TO_TRAIN_ID[label]
  guess = rng.integers(0, 19, label.shape)
  pred = np.where((rng.random(label.shape) < 0.6) & (train != 255), train, guess)
  return pred.astype(np.uint8), label, instance


def official_scores(tmp_path, cases, monkeypatch):
  """cityscapesscripts' evaluateImgLists on PNGs of `cases`, predictions as label ids."""
  evaluation = pytest.importorskip(
      'cityscapesscripts.evaluation.evalPixelLevelSemanticLabeling')
  monkeypatch.setattr(np, 'in1d', np.isin, raising=False)  # Removed in numpy 2.4; it calls it.
  preds, gts = [], []
  for n, (pred, label, instance) in enumerate(cases):
    stem = os.path.join(tmp_path, f'city_{n:06d}_000019')
    Image.fromarray(cityscapes.TRAIN_ID_TO_ID[pred]).save(f'{stem}_pred.png')
    Image.fromarray(label).save(f'{stem}_gtFine_labelIds.png')
    Image.fromarray(instance.astype(np.uint16)).save(f'{stem}_gtFine_instanceIds.png')
    preds.append(f'{stem}_pred.png')
    gts.append(f'{stem}_gtFine_labelIds.png')
  args = copy.copy(evaluation.args)
  args.quiet, args.JSONOutput, args.evalInstLevelScore = True, False, True
  args.evalPixelAccuracy = False
  return evaluation.evaluateImgLists(preds, gts, args)


def same(ours, theirs):
  """Our None/float equals their NaN/float."""
  if ours is None or theirs is None or (isinstance(theirs, float) and math.isnan(theirs)):
    return ours is None or (isinstance(ours, float) and math.isnan(ours))
  return ours == pytest.approx(theirs, rel=1e-9, abs=1e-12)


def test_matches_cityscapesscripts(tmp_path, monkeypatch):
  rng = np.random.default_rng(0)
  cases = [random_case(rng) for _ in range(4)] + [hand_case()]
  cases[-1] = (cases[-1][0].astype(np.uint8),
               np.where(cases[-1][1] == 255, 0,
                        cityscapes.TRAIN_ID_TO_ID[np.minimum(cases[-1][1], 18)]).astype(np.uint8),
               cases[-1][2])
  theirs = official_scores(str(tmp_path), cases, monkeypatch)
  acc = instance_metrics.InstanceAccumulator(gt_ids='label')
  for case in cases:
    acc.add(*case)
  ours = acc.result()
  assert sum(v is not None for v in ours['per_class_iiou'].values()) >= 6
  for name, value in ours['per_class_iiou'].items():
    assert same(value, theirs['classInstScores'][name]), name
  assert same(ours['iiou'], theirs['averageScoreInstClasses'])
  for name, value in ours['category_iou'].items():
    assert same(value, theirs['categoryScores'][name]), name
  assert same(ours['category_miou'], theirs['averageScoreCategories'])
  for name, value in ours['category_iiou'].items():
    assert same(value, theirs['categoryInstScores'][name]), name
  assert same(ours['category_iiou_mean'], theirs['averageScoreInstCategories'])


class _PixelModel(nn.Module):
  """Per-pixel logits from colour: varied, deterministic predictions for the wiring test."""
  dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train=False):
    return {'logits': nn.Dense(cityscapes.NUM_CLASSES)(x * 4.0)}


def test_evaluate_reports_iiou_of_its_own_predictions(tmp_path):
  """evaluate's iIoU over a padded, 8-device-sharded batch equals the accumulator fed
  directly with the same model's predictions (the accumulator itself is checked above)."""
  from configs import default  # pylint: disable=g-import-not-at-top
  from stseg_jax import evaluate, inference, sharding  # pylint: disable=g-import-not-at-top
  from stseg_jax.data import sources  # pylint: disable=g-import-not-at-top
  from test_cityscapes import image_path, make_root, stems  # pylint: disable=g-import-not-at-top
  root = make_root(tmp_path)
  rng = np.random.default_rng(0)
  for stem in stems():
    Image.fromarray(rng.integers(0, 256, (8, 16, 3), np.uint8)).save(image_path(root, stem))
  config = default.get_config()
  config.data.name, config.data.root, config.data.eval_split = 'cityscapes', root, 'train'
  config.eval.batch_size, config.eval.instance_metrics = 8, True  # 4 images + 4 padding rows
  source = sources.open_source(config.data, 'train', instances=True)
  model = _PixelModel()
  variables = {'params': model.init(jax.random.key(1), jnp.zeros((1, 8, 16, 3)))['params'],
               'batch_stats': {}}
  result = evaluate.Evaluator(model, source, sharding.make_mesh(), config.eval,
                              config.inference).run(variables)

  expected = instance_metrics.InstanceAccumulator()
  for i in range(len(source)):
    item = source[i]
    logits = inference.predict_logits(model, variables, item['image'][None])[0]
    expected.add(np.asarray(jnp.argmax(logits, -1)), item['label'], item['instance'])
  want = expected.result()
  assert want['per_class_iiou']['car'] is not None  # the fixture's car instances were scored
  for key in ('iiou', 'category_miou', 'category_iiou_mean'):
    assert result[key] == pytest.approx(want[key], rel=1e-9, nan_ok=True), key
  assert result['per_class_iiou'] == pytest.approx(want['per_class_iiou'], nan_ok=True)
