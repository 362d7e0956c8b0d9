"""Online self-training (stseg_jax/online.py): its pieces against hand-worked values,
its batches, its stages, and a run end to end with resume."""
import json
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from configs import camvid_fraction_sweep
from configs import tiny
from stseg_jax import ablation
from stseg_jax import checkpoints
from stseg_jax import config_check
from stseg_jax import errors
from stseg_jax import models
from stseg_jax import online
from stseg_jax import sharding
from stseg_jax import stages
from stseg_jax import train
from stseg_jax import workdir as workdir_lib
from stseg_jax.data import mixture
from stseg_jax.data import pipeline
from stseg_jax.data.labels import IGNORE_LABEL


def test_ema_update_moves_the_teacher_towards_the_student():
  teacher = {'params': {'w': jnp.array([1.0, 4.0])}, 'batch_stats': {'mean': jnp.array(0.0)}}
  student = {'params': {'w': jnp.array([2.0, 0.0])}, 'batch_stats': {'mean': jnp.array(10.0)}}
  out = online.ema_update(teacher, student, 0.9, step=100)
  # 0.9 * 1 + 0.1 * 2 = 1.1; 0.9 * 4 + 0 = 3.6; 0.1 * 10 = 1.
  np.testing.assert_allclose(out['params']['w'], [1.1, 3.6], rtol=1e-6)
  np.testing.assert_allclose(out['batch_stats']['mean'], 1.0, rtol=1e-6)
  # Step 1: the ramp's decay is 1 - 1/2, the mean of the two: 1.5, 2.0, 5.0.
  out = online.ema_update(teacher, student, 0.9, step=1)
  np.testing.assert_allclose(out['params']['w'], [1.5, 2.0], rtol=1e-6)
  np.testing.assert_allclose(out['batch_stats']['mean'], 5.0, rtol=1e-6)


def test_the_ramp_makes_the_teacher_the_plain_average_of_the_weights_so_far():
  weights = [3.0, 7.0, -1.0, 5.0]  # the initial weight, then three updates
  teacher = {'w': jnp.array(weights[0])}
  for step, w in enumerate(weights[1:], start=1):
    teacher = online.ema_update(teacher, {'w': jnp.array(w)}, 0.999, step)
  np.testing.assert_allclose(teacher['w'], np.mean(weights), rtol=1e-6)
  assert float(online.ema_decay(0.999, 5000.0)) == pytest.approx(0.999)


class _FixedLogits(nn.Module):
  """Returns the logits it was built with, whatever the images (a stand-in teacher)."""
  logits: np.ndarray
  dtype: str = 'float32'

  @nn.compact
  def __call__(self, images, train=False):
    del train
    return {'logits': jnp.broadcast_to(jnp.asarray(self.logits),
                                       images.shape[:3] + self.logits.shape[-1:])}


def test_teacher_labels_keep_confident_valid_pixels_only():
  # Two classes; softmax([a, 0]) of a = 4, 1, -4: p = 0.982, 0.731, 0.018 (class 1 at 0.982).
  logits = np.array([[[4.0, 0.0], [1.0, 0.0], [-4.0, 0.0]]], np.float32)  # 1x3 pixels
  model = _FixedLogits(logits)
  images = jnp.zeros((1, 1, 3, 3))
  valid = jnp.array([[[True, True, True]]])
  labels, kept = online.teacher_labels(model, {}, images, valid, 0.95)
  assert labels.tolist() == [[[0, IGNORE_LABEL, 1]]]
  assert kept.tolist() == [[[True, False, True]]]
  valid = jnp.array([[[False, True, True]]])  # padding stays ignored, however confident
  labels, _ = online.teacher_labels(model, {}, images, valid, 0.5)
  assert labels.tolist() == [[[IGNORE_LABEL, 0, 1]]]


def test_class_balanced_selection_keeps_each_classs_most_confident_half_too():
  # softmax([a, 0]): a = 4 -> class 0 at 0.982 (level 250); a = 1 -> class 0 at 0.731 (186);
  # a = -1, -0.5, -0.405 -> class 1 at 0.731 (186), 0.622 (159), 0.600 (153).
  logits = np.array([[[4.0, 0.0], [-1.0, 0.0], [-0.5, 0.0], [-0.405, 0.0], [1.0, 0.0]]],
                    np.float32)
  model, images = _FixedLogits(logits), jnp.zeros((1, 1, 5, 3))
  valid = jnp.ones((1, 1, 5), bool)
  # Class 0's top half of 2 pixels is its 0.982 one; class 1's of 3 (2 pixels) reaches 0.622.
  labels, _ = online.teacher_labels(model, {}, images, valid, 0.95, class_keep_fraction=0.5)
  assert labels.tolist() == [[[0, 1, 1, IGNORE_LABEL, IGNORE_LABEL]]]
  in_step = jax.jit(lambda v: online.teacher_labels(model, {}, images, v, 0.95, 0.5)[0])
  assert in_step(valid).tolist() == labels.tolist()  # as the compiled train step runs it
  assert online.teacher_labels(model, {}, images, valid, 0.95)[0].tolist() == [
      [[0] + [IGNORE_LABEL] * 4]]  # without it: the threshold alone
  # Only valid pixels count: without the 0.731 one, class 1's top half is its 0.622 one.
  valid = jnp.array([[[True, False, True, True, True]]])
  labels, _ = online.teacher_labels(model, {}, images, valid, 0.95, class_keep_fraction=0.5)
  assert labels.tolist() == [[[0, IGNORE_LABEL, 1, IGNORE_LABEL, IGNORE_LABEL]]]


def test_class_floors_by_hand():
  classes = jnp.array([0, 0, 0, 0, 1, 1])
  levels = jnp.array([255, 255, 255, 128, 200, 100])
  counted = jnp.array([True, True, True, True, True, False])
  # Class 0: top half of 4 is 2 pixels, reached at 255 (three there); class 1: its one
  # counted pixel; class 2: none.
  np.testing.assert_array_equal(online.class_floors(classes, levels, counted, 3, 0.5), [255, 200, 0])


def test_cutmix_pairs_each_flagged_row_with_the_next_flagged_one():
  rows = jnp.array([True, False, True, True])
  partner, mask = online.cutmix_masks(jax.random.key(0), rows, 8, 8, prob=1.0)
  assert [int(partner[i]) for i in (0, 2, 3)] == [2, 3, 0]  # cyclically among 0, 2, 3
  assert not mask[1].any()  # a real row gets no box
  for i in (0, 2, 3):  # one box each, inside the crop
    ys, xs = np.nonzero(np.asarray(mask[i]))
    assert ys.size and ys.size == (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
  _, mask = online.cutmix_masks(jax.random.key(0), rows, 8, 8, prob=0.0)
  assert not mask.any()
  _, mask = online.cutmix_masks(jax.random.key(0), jnp.array([False, True]), 8, 8, prob=1.0)
  assert not mask.any()  # one unlabeled crop has nobody to mix with


def test_paste_takes_the_box_from_the_partner():
  values = jnp.arange(2 * 2 * 2).reshape(2, 2, 2)
  mask = jnp.array([[[True, False], [False, False]], [[False, False], [False, True]]])
  out = online.paste(values, jnp.array([1, 0]), mask)
  assert out.tolist() == [[[4, 1], [2, 3]], [[4, 5], [6, 3]]]


def _pseudo_config(**fields):
  pseudo = ml_collections.ConfigDict({'online_threshold': 0.95, 'augment': {'cutmix_prob': 0.0}})
  pseudo.update(fields)
  return pseudo


def test_student_batch_keeps_real_rows_and_labels_unlabeled_ones():
  # Class 1 at p=0.982 everywhere: an unlabeled row's valid pixels get 1.
  model = _FixedLogits(np.array([-4.0, 0.0], np.float32))
  rng = np.random.default_rng(0)
  image = rng.integers(0, 255, (2, 4, 4, 3), np.uint8)
  strong = rng.integers(0, 255, (2, 4, 4, 3), np.uint8)
  label = np.array([np.full((4, 4), 5), np.zeros((4, 4))], np.uint8)
  label[1, 0, 0] = IGNORE_LABEL  # padding of the unlabeled crop
  batch = {'image': image, 'strong': strong, 'label': label, 'second': np.array([0, 1], np.uint8)}
  images, labels, metrics = online.student_batch(model, {}, batch, _pseudo_config(),
                                                 jax.random.key(0))
  np.testing.assert_allclose(images[0], models.normalize(image[:1])[0])  # real: weak view
  np.testing.assert_allclose(images[1], models.normalize(strong[1:])[0])  # unlabeled: strong
  assert (np.asarray(labels[0]) == 5).all()
  expected = np.ones((4, 4), np.uint8)
  expected[0, 0] = IGNORE_LABEL
  assert (np.asarray(labels[1]) == expected).all()
  assert float(metrics['online_kept_fraction']) == 1.0  # all 15 valid pixels confident
  strict = _pseudo_config(online_threshold=0.99)
  _, labels, metrics = online.student_batch(model, {}, batch, strict, jax.random.key(0))
  assert (np.asarray(labels[1]) == IGNORE_LABEL).all() and float(metrics['online_kept_fraction']) == 0


def test_unlabeled_crops_carry_a_strong_view_and_no_label_of_their_own():
  class Source:  # labels of 7 everywhere: they must never reach a crop
    def __len__(self):
      return 2

    def __getitem__(self, i):
      return {'image': np.full((32, 48, 3), 100 + i, np.uint8), 'label': np.full((32, 48), 7, np.uint8)}

  options = pipeline.AugmentOptions(scale_range=(0.5, 0.5), blur_prob=0.0, color_jitter=0.0)
  strong = pipeline.AugmentOptions(color_jitter=0.5, grayscale_prob=0.0, blur_prob=0.0)
  items = [(0, 0, None), (1, 1, None)]
  batch = next(iter(pipeline.train_epoch((Source(), Source()), items, crop=32, global_batch=2,
                                         seed=0, epoch=0, options=options, second_sources=(1,),
                                         strong_options=strong)))
  real, unlabeled = (0, 1) if batch['second'][1] else (1, 0)
  assert (batch['label'][real] == 7).any() and (batch['strong'][real] == batch['image'][real]).all()
  assert set(np.unique(batch['label'][unlabeled])) == {0, IGNORE_LABEL}  # image, padding
  assert (batch['strong'][unlabeled] != batch['image'][unlabeled]).any()


def test_online_stages_have_no_labels_stage_and_a_strongly_augmented_control(tmp_path):
  c = tiny.get_config()
  c.self_training.mode = 'online'
  c.self_training.duplicate_real_control = True
  workflow = {s.name: s for s in stages.stages(c, str(tmp_path))}
  assert list(workflow) == ['teacher', 'student', 'control']
  student, control = workflow['student'].config.pseudo, workflow['control'].config.pseudo
  assert student.online and not student.dir
  assert not control.online and control.duplicate_real and control.strong_augment


@pytest.mark.parametrize('key, value', [('dir', '/tmp/labels'), ('strong_augment', True),
                                        ('soft', True), ('online_threshold', 1.5)])
def test_online_with_an_offline_setting_fails_naming_the_key(key, value):
  c = tiny.get_config()
  c.pseudo.online = True
  c.pseudo[key] = value
  with pytest.raises(errors.ConfigError, match=f'config.pseudo.{key}'):
    config_check.validate(c)


def online_config():
  c = tiny.get_config()
  c.pseudo.online = True
  c.pseudo.ratio = 1.0
  c.pseudo.online_threshold = 0.0  # a teacher of 4 steps is confident nowhere yet
  return c


def test_an_online_run_trains_its_teacher_and_resumes_exactly(tmp_path):
  config = online_config()
  straight = train.train_and_evaluate(config, str(tmp_path / 'straight'))
  assert int(straight.step) == 8  # 16 real + 16 unlabeled crops an epoch, batch 8, 2 epochs
  records = [json.loads(l) for l in open(tmp_path / 'straight' / 'metrics.jsonl')]
  kept = [r['online_kept_fraction'] for r in records if 'loss' in r]
  assert len(kept) == 8 and all(k == 1.0 for k in kept)  # threshold 0: every valid pixel
  # The teacher is an average of the student's past weights: close, not equal.
  gaps = [float(jnp.abs(t - s).max()) for t, s in
          zip(jax.tree.leaves(straight.ema['params']), jax.tree.leaves(straight.params))]
  assert max(gaps) > 0
  # Readers (evaluation, pseudo labels, init_from) load the student's weights.
  replicated = sharding.replicated(sharding.make_mesh())
  params, _, _ = checkpoints.load_variables(str(tmp_path / 'straight'), replicated)
  for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(straight.params)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

  config.train.stop_at_step = 5
  config.checkpoint_every = 1
  with pytest.raises(workdir_lib.Preempted):
    train.train_and_evaluate(config, str(tmp_path / 'resumed'))
  config.train.stop_at_step = 0
  resumed = train.train_and_evaluate(config, str(tmp_path / 'resumed'))
  for a, b in zip(jax.tree.leaves((straight.params, straight.ema)),
                  jax.tree.leaves((resumed.params, resumed.ema))):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


def test_a_config_saved_before_the_online_fields_still_validates():
  saved = tiny.get_config().to_dict()  # as an older run's config.json reads back
  for key in ('online', 'online_threshold', 'ema_decay'):
    del saved['pseudo'][key]
  saved = ml_collections.ConfigDict(saved)
  config_check.validate(saved)  # what evaluating that run's checkpoint does first
  assert mixture.second_stream(saved.pseudo) is None


def test_the_sweeps_online_variant_is_a_valid_online_student(tmp_path):
  c = camvid_fraction_sweep.get_config('online')
  variant = ablation.variant_config(c, c.ablation.variants.online, 'online')
  workflow = {s.name: s for s in stages.stages(variant, str(tmp_path), teacher_items=92)}
  assert 'pseudo_label' not in workflow and 'control' not in workflow
  student = workflow['student'].config
  assert student.pseudo.online and student.train.num_epochs == 300
  assert student.pseudo.online_class_keep_fraction == 0.0
  config_check._check_online(student.pseudo)  # pylint: disable=protected-access
  c = camvid_fraction_sweep.get_config('online_balanced')
  variant = ablation.variant_config(c, c.ablation.variants.online_balanced, 'online_balanced')
  balanced = stages.student_config(variant, '/labels').pseudo
  assert balanced.online and balanced.online_class_keep_fraction == 0.5
  assert balanced.online_threshold == student.pseudo.online_threshold
