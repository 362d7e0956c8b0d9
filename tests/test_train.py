"""The trainer end to end on tiny synthetic data, resume, sharding, bad input."""
import json
import os
import subprocess
import sys

import flax
import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image
import pytest

from configs import synthetic_fastscnn
from stseg_jax import checkpoints
from stseg_jax import evaluate
from stseg_jax import models
from stseg_jax import optim
from stseg_jax import sharding
from stseg_jax import train
from stseg_jax import train_state
from stseg_jax import workdir as workdir_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_config():
  c = synthetic_fastscnn.get_config()
  c.data.height, c.data.width = 64, 128
  c.data.num_train, c.data.num_val = 16, 8
  c.data.num_workers = 0
  c.train.crop_sizes = (64,)
  c.train.batch_size = 8
  c.train.num_epochs = 2
  c.train.epoch_items = 16
  c.eval.batch_size = 8
  c.log_every, c.eval_every, c.checkpoint_every = 1, 4, 2
  return c


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('run'))
  state = train.train_and_evaluate(tiny_config(), workdir)
  return workdir, state


def test_train_writes_metrics_eval_and_checkpoints(trained):
  workdir, state = trained
  assert int(state.step) == 4
  records = [json.loads(l) for l in open(os.path.join(workdir, 'metrics.jsonl'))]
  train_steps = [r['step'] for r in records if 'loss' in r]
  assert train_steps == [1, 2, 3, 4]
  assert all(np.isfinite(r['loss']) and r['crop'] == 64 and r['batch_size'] == 8
             for r in records if 'loss' in r)
  result = json.load(open(os.path.join(workdir, 'eval.json')))
  assert result['checkpoint_step'] == 4 and result['num_images'] == 8
  assert set(result['per_class_iou']) >= {'road', 'car', 'sky'}
  assert sorted(os.listdir(os.path.join(workdir, 'checkpoints'))) == ['2', '4']
  # Exactly these arrays (no online teacher's): checkpoints of older code restore.
  saved = checkpoints.manager(workdir).item_metadata(4)
  assert set(getattr(saved, 'tree', saved)) == {'step', 'images_seen', 'params', 'batch_stats',
                                                 'opt_state'}
  assert os.listdir(os.path.join(workdir, 'tensorboard'))
  visuals = os.path.join(workdir, 'visuals', 'step_4')
  assert sorted(os.listdir(visuals)) == [f'synthetic-A-val-s0-{i:06d}.png' for i in range(4)]
  strip = np.asarray(Image.open(os.path.join(visuals, 'synthetic-A-val-s0-000000.png')))
  assert strip.shape == (64, 4 * 128, 3)  # image | overlay | ground truth | prediction


def test_evaluate_checkpoint_matches_training_eval(trained):
  workdir, _ = trained
  during = json.load(open(os.path.join(workdir, 'eval.json')))
  after = evaluate.evaluate_checkpoint(tiny_config(), workdir)
  assert after['confusion_matrix'] == during['confusion_matrix']
  assert after['checkpoint_step'] == during['checkpoint_step'] == 4


def test_an_earlier_step_gets_its_own_file_not_eval_json(trained):
  workdir, _ = trained
  own = open(os.path.join(workdir, 'eval.json')).read()
  earlier = evaluate.evaluate_checkpoint(tiny_config(), workdir, checkpoint_step=2)
  assert open(os.path.join(workdir, 'eval.json')).read() == own  # still the final step's
  saved = json.load(open(os.path.join(workdir, 'eval_step_2.json')))
  assert saved['checkpoint_step'] == 2 and saved['miou'] == earlier['miou']


def test_evaluating_another_split_keeps_the_runs_own_result(trained):
  workdir, _ = trained
  own = open(os.path.join(workdir, 'eval.json')).read()
  config = tiny_config()
  config.data.eval_split = 'train'
  evaluate.evaluate_checkpoint(config, workdir)
  assert open(os.path.join(workdir, 'eval.json')).read() == own
  other = json.load(open(os.path.join(workdir, 'eval_train.json')))
  assert other['split'] == 'train' and other['num_images'] == config.data.num_train
  config.data.eval_split, config.data.domain = 'val', 'B'
  evaluate.evaluate_checkpoint(config, workdir)
  assert open(os.path.join(workdir, 'eval.json')).read() == own
  assert json.load(open(os.path.join(workdir, 'eval_B_val.json')))['split'] == 'val'
  assert os.listdir(os.path.join(workdir, 'visuals', 'eval_B_val_step_4'))


def test_resume_gives_same_params_as_straight_run(trained, tmp_path):
  _, straight = trained
  config = tiny_config()
  config.train.stop_at_step = 3  # interrupted after a checkpoint-free step
  config.checkpoint_every = 1
  with pytest.raises(workdir_lib.Preempted, match='stop_at_step.*step 3 of 4'):
    train.train_and_evaluate(config, str(tmp_path))
  config.train.stop_at_step = 0
  resumed = train.train_and_evaluate(config, str(tmp_path))
  assert int(resumed.step) == 4
  for a, b in zip(jax.tree.leaves(straight.params), jax.tree.leaves(resumed.params)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
  for a, b in zip(jax.tree.leaves(straight.batch_stats), jax.tree.leaves(resumed.batch_stats)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


def _one_step(mesh, config, batch):
  model = models.from_config(config.model, 19)
  tx = optim.sgd_direction()
  state = train_state.create_train_state(model, tx, jax.random.key(0), mesh)
  step = jax.jit(
      lambda s, b: train.train_step(s, b, 100, model=model, tx=tx, config=config),
      in_shardings=(sharding.replicated(mesh), sharding.data_sharding(mesh)))
  return jax.device_get(step(state, sharding.to_global(batch, mesh)))


def test_eight_devices_match_one_device_with_global_batch_norm():
  assert jax.device_count() == 8, 'conftest sets 8 simulated CPU devices'
  config = tiny_config()
  config.loss.ohem = True  # the OHEM threshold must also be global
  config.loss.ohem_min_kept = 1000
  rng = np.random.default_rng(0)
  batch = {'image': rng.integers(0, 255, (16, 64, 64, 3), dtype=np.uint8),
           'label': rng.integers(0, 19, (16, 64, 64), dtype=np.uint8)}
  reversed_batch = {k: v[::-1].copy() for k, v in batch.items()}
  one_mesh = sharding.make_mesh(jax.devices()[:1])
  state1, metrics1 = _one_step(one_mesh, config, batch)
  state8, metrics8 = _one_step(sharding.make_mesh(), config, batch)
  # Per-device batch statistics would move all of these by ~1e-2.
  np.testing.assert_allclose(metrics8['loss'], metrics1['loss'], rtol=1e-5)
  assert relative_error(state8.params, state1.params) <= 1e-5
  assert relative_error(state8.batch_stats, state1.batch_stats) <= 1e-5
  # Gradients (the first momentum trace). Fast-SCNN's gradients at init are
  # sensitive to summation order: merely reversing the batch on one device
  # moves them by ~1e-3 relative. 8 devices must stay within that floor.
  state1r, _ = _one_step(one_mesh, config, reversed_batch)
  floor = relative_error(state1r.opt_state, state1.opt_state)
  assert relative_error(state8.opt_state, state1.opt_state) <= max(3 * floor, 1e-5)
  np.testing.assert_allclose(metrics8['grad_norm'], metrics1['grad_norm'],
                             rtol=max(3 * floor, 1e-5))


def relative_error(a, b):
  """||a - b|| / ||b|| over all leaves of two pytrees."""
  pairs = [(np.asarray(x, np.float64), np.asarray(y, np.float64))
           for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b))]
  diff = np.sqrt(sum(np.sum((x - y) ** 2) for x, y in pairs))
  return diff / np.sqrt(sum(np.sum(y ** 2) for _, y in pairs))


@pytest.mark.parametrize('override,key', [
    ('--config.model.name=nope', 'config.model.name'),
    ('--config.data.name=camvid', 'config.data.root'),
    ('--config.train.schedule=fast', 'config.train.schedule'),
    ('--config.model.nope=1', 'nope'),
    ('--config.train.crop_sizes=(2000,)', 'config.train.crop_sizes'),  # scenes are 384x768
    ('--config.data.num_train=0', "split 'train'"),  # an empty split
])
def test_broken_config_fails_with_one_clear_line(tmp_path, override, key):
  proc = subprocess.run(
      [sys.executable, '-m', 'stseg_jax.train', '--config=configs/synthetic_fastscnn.py',
       f'--workdir={tmp_path}', override],
      cwd=REPO, capture_output=True, text=True, timeout=120)
  assert proc.returncode != 0
  last_line = proc.stderr.strip().splitlines()[-1]
  assert key in last_line, proc.stderr[-2000:]
  assert 'Traceback' not in proc.stderr


def test_one_compilation_per_crop_bucket(tmp_path, caplog):
  config = tiny_config()
  config.train.crop_sizes = (32, 48, 64)
  config.train.schedule = 'coarse2fine+'
  config.train.num_epochs = 6  # each bucket used twice
  config.train.epoch_items = 8
  config.train.max_batch_size = 8
  config.eval_every = 1000
  jax.config.update('jax_log_compiles', True)
  try:
    with caplog.at_level('DEBUG'):
      train.train_and_evaluate(config, str(tmp_path))
  finally:
    jax.config.update('jax_log_compiles', False)
  compiles = [r.getMessage() for r in caplog.records
              if r.getMessage().startswith('Finished XLA compilation of jit(train_step)')]
  assert len(compiles) == 3, compiles


def test_a_run_of_another_length_reuses_the_cached_steps(tmp_path, caplog):
  """The LR horizon is an argument of the step, so the persistent XLA cache
  (conftest enables one) serves a longer run the shorter run's executables."""
  config = tiny_config()
  config.train.crop_sizes = (32, 48)
  config.train.schedule = 'coarse2fine+'
  config.train.epoch_items, config.train.max_batch_size = 8, 8
  config.eval_every = 1000
  config.train.num_epochs = 4
  train.train_and_evaluate(config, str(tmp_path / 'short'))
  config.train.num_epochs = 6
  jax.config.update('jax_log_compiles', True)
  try:
    with caplog.at_level('DEBUG'):
      train.train_and_evaluate(config, str(tmp_path / 'long'))
  finally:
    jax.config.update('jax_log_compiles', False)
  messages = [r.getMessage() for r in caplog.records]
  hits = [m for m in messages if m.startswith("Persistent compilation cache hit for 'jit_train_step'")]
  writes = [m for m in messages if m.startswith('Writing jit_train_step to persistent')]
  assert len(hits) == 2 and not writes, (hits, writes)


def test_lr_batch_power_scales_each_buckets_lr_by_its_batch(tmp_path):
  """lr = poly(images seen) * (batch / batch_size)^p, checked step by step from the log."""
  config = tiny_config()
  config.train.crop_sizes = (32, 64)
  config.train.schedule = 'coarse2fine+'
  config.train.num_epochs = 2
  config.train.epoch_items = 64
  config.train.max_batch_size = 32  # crop 32 gets batch 32, crop 64 batch 8
  config.train.lr_batch_power = 0.5
  config.log_every, config.eval_every = 1, 1000
  train.train_and_evaluate(config, str(tmp_path))
  records = [json.loads(l) for l in open(tmp_path / 'metrics.jsonl') if '"lr"' in l]
  total = sum(r['batch_size'] for r in records)
  seen = np.cumsum([0] + [r['batch_size'] for r in records])[:-1]
  assert {r['batch_size'] for r in records} == {32, 8}
  for r, images in zip(records, seen):
    poly = config.train.base_lr * (1 - images / total) ** config.train.lr_power
    assert r['lr'] == pytest.approx(poly * (r['batch_size'] / 8) ** 0.5, rel=1e-5)


def test_evaluate_with_flip_and_tiles_runs_the_inference_recipe(trained):
  workdir, _ = trained
  config = tiny_config()
  config.inference.flip = True
  config.inference.scales = (0.5, 1.0)
  config.inference.tile_size = (48, 48)
  result = evaluate.evaluate_checkpoint(config, workdir)
  assert result['inference']['flip'] and result['inference']['tile_size'] == (48, 48)
  assert result['num_pixels'] > 0 and 0 <= result['miou'] <= 1


def test_init_from_keeps_weights_and_reinitialises_a_resized_classifier(trained):
  """Finetuning for another class list (paper section 3.4): every leaf of the
  source run's checkpoint comes over except those whose shape changed."""
  workdir, source_state = trained
  config = tiny_config()
  mesh = sharding.make_mesh()
  model = models.from_config(config.model, 21)  # e.g. two new classes in the target domain
  fresh = train_state.create_train_state(model, optim.sgd_direction(), jax.random.key(7), mesh)
  state = train_state.init_from_checkpoint(fresh, workdir, mesh)
  flat = lambda tree: flax.traverse_util.flatten_dict(flax.core.unfreeze(tree), sep='/')
  source, new, init = flat(source_state.params), flat(state.params), flat(fresh.params)
  resized = sorted(k for k in new if new[k].shape != source[k].shape)
  assert resized and all('classifier' in k or 'logits' in k or k.endswith(('kernel', 'bias'))
                         for k in resized)
  assert len(resized) <= 4  # the classifier (and an auxiliary one): kernel and bias each
  for key in new:
    expected = init[key] if key in resized else source[key]
    np.testing.assert_array_equal(np.asarray(new[key]), np.asarray(expected), err_msg=key)
  bn_source, bn_new = flat(source_state.batch_stats), flat(state.batch_stats)
  assert all(np.array_equal(bn_new[k], bn_source[k]) for k in bn_new)
  assert int(state.step) == 0


def test_profile_steps_writes_a_trace(tmp_path):
  config = tiny_config()
  config.train.num_epochs = 4  # 8 steps: the trace covers steps 6 and 7
  config.profile_steps = 2
  config.eval_every = config.checkpoint_every = 1000
  train.train_and_evaluate(config, str(tmp_path))
  traces = [f for _, _, files in os.walk(tmp_path / 'profile') for f in files]
  assert any(f.endswith('.xplane.pb') for f in traces), traces
