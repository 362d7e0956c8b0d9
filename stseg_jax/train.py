"""Trains a segmentation model from a config; resumes from WORKDIR if it can.

  python -m stseg_jax.train --config=configs/synthetic_fastscnn.py --workdir=/tmp/demo \
      [--config.train.num_epochs=4 ...]
"""
import collections
import dataclasses
import functools
import json
import os
import signal
import sys
import threading
import time
from concurrent import futures

from absl import logging
import flax
import jax
import jax.numpy as jnp
from jax.experimental import multihost_utils
import ml_collections
import numpy as np
import optax

from stseg_jax import checkpoints
from stseg_jax import config_check
from stseg_jax import cli
from stseg_jax import evaluate as evaluate_lib
from stseg_jax import losses
from stseg_jax import metric_writer
from stseg_jax import models
from stseg_jax import optim
from stseg_jax import schedules
from stseg_jax import sharding
from stseg_jax import workdir as workdir_lib
from stseg_jax.data import centroids
from stseg_jax.data import class_stats
from stseg_jax.data import errors
from stseg_jax.data import pipeline
from stseg_jax.data import pseudo_source
from stseg_jax.data import sampler
from stseg_jax.data import sources


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  images_seen: jax.Array
  params: dict
  batch_stats: dict
  opt_state: optax.OptState


@dataclasses.dataclass(frozen=True)
class EpochPlan:
  crop: int
  batch_size: int
  steps: int


def items_per_epoch(config, num_real_images, with_pseudo):
  """(real, pseudo) items of an epoch: `epoch_items` real plus ratio times that.

  With pseudo.only (pre-training on pseudo labels, paper Table 8) the real
  items are left out: the same pseudo items as joint training, nothing else.
  """
  real = config.train.epoch_items or num_real_images
  pseudo = sampler.round_half_up(config.pseudo.ratio * real) if with_pseudo else 0
  if with_pseudo and config.pseudo.get('only', False):
    return 0, pseudo
  return real, pseudo


def make_plan(config, num_train_images, num_devices, with_pseudo=False):
  """Crop, global batch size and number of steps of every epoch."""
  t = config.train
  if t.batch_size % num_devices:
    raise config_check.ConfigError(
        f'config.train.batch_size: {t.batch_size} does not split over {num_devices} devices '
        f'(use a multiple of {num_devices}, e.g. {-(-t.batch_size // num_devices) * num_devices})')
  crops = schedules.crop_schedule(t.schedule, t.num_epochs, list(t.crop_sizes),
                                  t.warmup_epochs)
  items = sum(items_per_epoch(config, num_train_images, with_pseudo))
  plan = []
  for crop in crops:
    batch = schedules.batch_size_for_crop(
        crop, max(t.crop_sizes), t.batch_size, t.max_batch_size,
        multiple_of=num_devices)
    if items < batch:
      raise config_check.ConfigError(
          f'config.train.epoch_items: {items} items cannot fill one batch of {batch}')
    plan.append(EpochPlan(crop, batch, items // batch))
  return plan


def position(plan, step):
  """(epoch, batch within epoch) of global step `step`."""
  for epoch, p in enumerate(plan):
    if step < p.steps:
      return epoch, step
    step -= p.steps
  return len(plan), 0


# --- Model and state ---------------------------------------------------------

def create_model(model_config, num_classes):
  options = {k: v for k, v in model_config.items() if k not in ('name', 'pretrained')}
  return models.create(model_config.name, num_classes=num_classes, **options)


def create_train_state(model, tx, rng, mesh, pretrained='', backbone=None):
  """Initialises the replicated train state (on every device, no transfer);
  `pretrained`: a torchvision/timm backbone file."""
  def init(rng):
    variables = model.init(rng, jnp.zeros((1, 64, 64, 3), jnp.float32), train=False)
    params = variables['params']
    return TrainState(step=jnp.zeros((), jnp.int32), images_seen=jnp.zeros((), jnp.int32),
                      params=params, batch_stats=variables.get('batch_stats', {}),
                      opt_state=tx.init(params))
  state = jax.jit(init, out_shardings=sharding.replicated(mesh))(rng)
  if pretrained:
    from stseg_jax.models import convert_torch  # pylint: disable=g-import-not-at-top
    variables = convert_torch.load_pretrained_backbone(
        {'params': state.params, 'batch_stats': state.batch_stats}, pretrained,
        arch=backbone)
    variables = jax.device_put(variables, sharding.replicated(mesh))
    state = state.replace(params=variables['params'],
                          batch_stats=variables['batch_stats'])
  return state


def _init_from_checkpoint(state, workdir, mesh):
  """Params and batch stats from another run's latest checkpoint, step and optimizer fresh.

  A leaf whose shape differs there (the classifier of a model trained for other
  classes, paper section 3.4) or that it lacks keeps its fresh initialisation.
  """
  workdir = os.path.expanduser(workdir)
  if not os.path.isdir(os.path.join(workdir, 'checkpoints')):
    raise FileNotFoundError(f'config.train.init_from: no checkpoints in {workdir!r}')
  params, batch_stats, step = checkpoints.load_variables(workdir, sharding.replicated(mesh))
  kept = []

  def merge(fresh, loaded):
    fresh_flat = flax.traverse_util.flatten_dict(flax.core.unfreeze(fresh), sep='/')
    loaded_flat = flax.traverse_util.flatten_dict(flax.core.unfreeze(loaded), sep='/')
    merged = {}
    for key, value in fresh_flat.items():
      other = loaded_flat.get(key)
      if other is not None and other.shape == value.shape:
        merged[key] = other.astype(value.dtype)
      else:
        merged[key] = value
        kept.append(key)
    return flax.traverse_util.unflatten_dict(merged, sep='/')

  state = state.replace(params=merge(state.params, params),
                        batch_stats=merge(state.batch_stats, batch_stats))
  logging.info('Initialised from %s step %d; fresh: %s', workdir, step, kept or 'nothing')
  return state


def train_step(state, batch, total_images, *, model, tx, config, class_weights=None):
  """One SGD step on a global batch; returns the new state and metrics.

  `total_images` (the poly LR's horizon) is an argument, not a constant, so a
  bucket's compiled step is the same for any run length and a persistent XLA
  cache serves it to the next run.
  """
  images = evaluate_lib.normalize(batch['image'], model.dtype)
  lr = optim.poly_lr(state.images_seen, total_images, config.train.base_lr,
                     config.train.lr_power, config.train.warmup_images)
  batch_ratio = images.shape[0] / config.train.batch_size  # static per crop bucket
  lr = lr * batch_ratio ** config.train.get('lr_batch_power', 0.0)

  # Dropout (WideResNet38) draws from a key tied to the step: reproducible.
  dropout_rng = jax.random.fold_in(jax.random.key(config.seed), state.step)

  def loss_fn(params):
    outputs, new_vars = model.apply(
        {'params': params, 'batch_stats': state.batch_stats}, images,
        train=True, mutable=['batch_stats'], rngs={'dropout': dropout_rng})
    soft = None
    if 'soft_index' in batch:  # pseudo.soft: the teacher's top-K probabilities
      soft = losses.topk_distribution(batch['soft_index'], batch['soft_prob'],
                                      outputs['logits'].shape[-1])
    exempt = None  # pixels OHEM keeps unranked: pseudo labels, unless loss.ohem_pseudo
    if config.loss.ohem and not config.loss.ohem_pseudo and 'pseudo' in batch:
      exempt = jnp.broadcast_to(batch['pseudo'][:, None, None] > 0, batch['label'].shape)
    loss = losses.segmentation_loss(
        outputs, batch['label'], ignore_label=config.augment.ignore_label,
        ohem=config.loss.ohem, ohem_thresh=config.loss.ohem_thresh,
        ohem_min_kept=config.loss.ohem_min_kept, ohem_exempt=exempt,
        aux_weight=config.loss.aux_weight, class_weights=class_weights, soft_targets=soft)
    return loss, new_vars['batch_stats']

  (loss, batch_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  direction, opt_state = tx.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, optim.apply_lr(direction, lr))
  new_state = state.replace(step=state.step + 1,
                            images_seen=state.images_seen + images.shape[0],
                            params=params, batch_stats=batch_stats,
                            opt_state=opt_state)
  return new_state, {'loss': loss, 'lr': lr, 'grad_norm': optax.tree.norm(grads),
                     'param_norm': optax.tree.norm(params)}


def make_step_fn(config, model, tx, mesh, class_weights=None):
  """`train_step` jitted over the mesh: state replicated and donated, batch split."""
  return jax.jit(
      functools.partial(train_step, model=model, tx=tx, config=config,
                        class_weights=class_weights),
      in_shardings=(sharding.replicated(mesh), sharding.data_sharding(mesh),
                    sharding.replicated(mesh)),
      out_shardings=(sharding.replicated(mesh), sharding.replicated(mesh)),
      donate_argnums=0)


def batch_spec(batch_size, crop, mesh, soft_k=0):
  """The global batch of a bucket as ShapeDtypeStructs (see pipeline.train_epoch)."""
  data = sharding.data_sharding(mesh)
  pixels = (batch_size, crop, crop)
  spec = {'image': jax.ShapeDtypeStruct(pixels + (3,), jnp.uint8, sharding=data),
          'label': jax.ShapeDtypeStruct(pixels, jnp.uint8, sharding=data),
          'pseudo': jax.ShapeDtypeStruct((batch_size,), jnp.uint8, sharding=data)}
  if soft_k:
    spec['soft_index'] = jax.ShapeDtypeStruct(pixels + (soft_k,), jnp.uint8, sharding=data)
    spec['soft_prob'] = jax.ShapeDtypeStruct(pixels + (soft_k,), jnp.float16, sharding=data)
  return spec


def step_spec(state, mesh):
  """The arguments of `train_step` but the batch: the state, and the LR horizon."""
  horizon = jax.ShapeDtypeStruct((), jnp.int32, sharding=sharding.replicated(mesh))
  return checkpoints.abstract(state), horizon


def compile_buckets(step_fn, state, plan, mesh, executor=None, soft_k=0):
  """One compiled train step per crop bucket, compiled ahead of use.

  Returns {crop: future of the compiled step}; with an executor the buckets
  after the first compile while training runs.
  """
  abstract_state, horizon = step_spec(state, mesh)
  compiled = {}
  for p in plan:
    if p.crop in compiled:
      continue
    batch = batch_spec(p.batch_size, p.crop, mesh, soft_k)
    lower = functools.partial(lambda b: step_fn.lower(abstract_state, b, horizon).compile(),
                              batch)
    if executor is None or not compiled:
      done = futures.Future()
      done.set_result(lower())
      compiled[p.crop] = done
    else:
      compiled[p.crop] = executor.submit(lower)
  return compiled


# --- The loop ----------------------------------------------------------------

def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str):
  """Trains per `config`, evaluating and checkpointing into `workdir`.

  Returns the final state once every step is trained and the last one
  evaluated; raises workdir.Preempted after a SIGTERM's checkpoint.
  """
  config_check.validate(config)
  os.makedirs(workdir, exist_ok=True)
  with workdir_lib.lock(workdir):
    return _train_and_evaluate(config, workdir)


def _train_and_evaluate(config, workdir):
  workdir_lib.check_resume(config, workdir)
  mesh = sharding.make_mesh()
  logging.info('Devices: %d over %d process(es): %s', jax.device_count(),
               jax.process_count(), jax.devices())
  logging.info('Config in %s', os.path.join(workdir, 'config.json'))
  workdir_lib.write_config(config, workdir)

  train_sources = [sources.open_source(config.data, config.data.train_split)]
  config_check.check_crop_fits(config, sources.largest_image_side(train_sources[0]),
                               config.data.train_split)
  soft_k = 0
  if config.pseudo.dir:
    train_sources.append(pseudo_source.open_student_source(config, train_sources[0]))
    soft_k = train_sources[1].soft_k if config.pseudo.get('soft', False) else 0
  elif config.pseudo.get('duplicate_real', False):  # the baseline of paper Table 2b
    train_sources.append(train_sources[0])
  eval_source = sources.open_source(config.data, config.data.eval_split,
                                    instances=config.eval.get('instance_metrics', False))
  model = create_model(config.model, train_sources[0].num_classes)
  plan = make_plan(config, len(train_sources[0]), jax.device_count(),
                   with_pseudo=len(train_sources) > 1)
  total_steps = sum(p.steps for p in plan)
  total_images = sharding.to_replicated(np.int32(sum(p.steps * p.batch_size for p in plan)),
                                        mesh)
  indexes = centroid_indexes(config, train_sources, workdir)
  class_weights = loss_class_weights(config, train_sources[0], workdir)

  tx = optim.sgd_direction(config.train.momentum, config.train.weight_decay)
  state = create_train_state(model, tx, jax.random.key(config.seed), mesh,
                             config.model.get('pretrained', ''),
                             config.model.get('backbone', None))
  mngr = checkpoints.manager(workdir, config.keep_checkpoints)
  restored = checkpoints.restore(mngr, checkpoints.abstract(state), quarantine=True,
                                 restart_if_unreadable=config.resume_anyway)
  if restored is not None:
    state = restored
    logging.info('Resumed from step %d', int(state.step))
  elif config.train.get('init_from', ''):
    state = _init_from_checkpoint(state, config.train.init_from, mesh)

  step_fn = make_step_fn(config, model, tx, mesh, class_weights)
  executor = futures.ThreadPoolExecutor(max_workers=1)
  compiled = compile_buckets(step_fn, state, plan, mesh, executor, soft_k)
  evaluator = evaluate_lib.Evaluator(model, eval_source, mesh, config)
  writer = metric_writer.MetricWriter(workdir)

  preemption = Preemption()
  profiler = Profiler(os.path.join(workdir, 'profile'), config.get('profile_steps', 0),
                      int(state.step))
  step = int(state.step)
  end_step = min(config.train.stop_at_step or total_steps, total_steps)
  pending, progress = [], Progress(writer, total_steps, step)
  try:
    batches = _on_devices(
        _train_batches(config, plan, train_sources, indexes, step, soft_k), mesh)
    for p, batch in batches:
      if step >= end_step:
        break
      profiler.step(step)
      state, metrics = compiled[p.crop].result()(state, batch, total_images)
      step += 1
      pending.append(metrics)
      if step % config.log_every == 0 or step == end_step:
        progress.log(step, pending, p)
        pending = []
      if step % config.eval_every == 0 or step == total_steps:
        _evaluate(evaluator, state, writer, workdir, config, step)
      preempted = preemption.reached(step)
      if step % config.checkpoint_every == 0 or step == end_step or preempted:
        _check_finite(metrics, step)  # never checkpoint NaN parameters
        checkpoints.save(mngr, state)
      if preempted:
        raise workdir_lib.Preempted(workdir, step, total_steps)
    if step == total_steps and not _evaluated_at(workdir, config, step):
      # Every step was trained but the final evaluation is missing: it failed
      # (a bad val image, since fixed) or the job died before it. A run is
      # finished when its outputs are.
      logging.info('Evaluating the final step %d (its evaluation had not finished)', step)
      _evaluate(evaluator, state, writer, workdir, config, step)
    elif step < total_steps:
      logging.info('Stopped at step %d of %d (train.stop_at_step)', step, total_steps)
  except workdir_lib.Preempted:
    mngr.wait_until_finished()
    logging.warning('SIGTERM: saved a checkpoint at step %d of %d; rerun to resume', step,
                    total_steps)
    raise
  except (errors.DataError, KeyboardInterrupt):
    _save_finished_work(mngr, state, step)
    raise
  finally:  # also on errors: finish async saves, stop threads
    profiler.stop()
    mngr.wait_until_finished()
    preemption.restore()
    executor.shutdown(cancel_futures=True)
    writer.close()
  return state


def _evaluate(evaluator, state, writer, workdir, config, step):
  result = evaluator.run(state)
  writer.write(step, {'eval_miou': result['miou'], 'eval_pixel_accuracy': result['pixel_accuracy']})
  logging.info('step %d: eval mIoU %.4f', step, result['miou'])
  evaluate_lib.write_result(workdir, result, config, step)
  evaluator.save_examples(state, os.path.join(workdir, 'visuals', f'step_{step}'),
                          config.eval.get('num_visuals', 0))


def _evaluated_at(workdir, config, step):
  """Whether the run's own eval result is of `step`."""
  path = os.path.join(workdir, evaluate_lib.result_file(workdir, config.data))
  try:
    with open(path) as f:
      return json.load(f).get('checkpoint_step') == step
  except (OSError, ValueError):
    return False


def _on_devices(batches, mesh, ahead=2):
  """(plan, global batch) pairs, each put on the devices `ahead` steps early, so
  the host-to-device copy of the next batches overlaps the current step."""
  queue = collections.deque()
  for p, local_batch in batches:
    queue.append((p, sharding.to_global(local_batch, mesh)))
    if len(queue) > ahead:
      yield queue.popleft()
  yield from queue


class Profiler:
  """A jax.profiler trace of `num_steps` steps (config.profile_steps) into
  WORKDIR/profile, from the 5th step of the run on: compiles and warm-up left out.
  View with TensorBoard's profile plugin or Perfetto."""

  def __init__(self, directory, num_steps, first_step):
    self.directory, self.num_steps = directory, num_steps
    self.start_at, self.active = first_step + 5, False

  def step(self, step):
    if self.num_steps and step == self.start_at and jax.process_index() == 0:
      jax.profiler.start_trace(self.directory)
      self.active = True
    elif self.active and step == self.start_at + self.num_steps:
      self.stop()

  def stop(self):
    if self.active:
      jax.profiler.stop_trace()
      self.active = False
      logging.info('profile of %d steps written to %s', self.num_steps, self.directory)


class Preemption:
  """SIGTERM (what a scheduler sends before killing a job) asks the loop to
  checkpoint at the end of a step and return.

  One process: our own handler notes the signal. Several: JAX's preemption
  service (started by jax.distributed.initialize) owns SIGTERM and tells every
  process the same step to stop at, since a checkpoint needs all of them.
  """

  def __init__(self):
    self.requested = False
    self._previous = None
    self._multiprocess = jax.process_count() > 1
    if not self._multiprocess and threading.current_thread() is threading.main_thread():
      self._previous = signal.signal(signal.SIGTERM, self._handle)

  def _handle(self, signum, frame):
    del signum, frame
    self.requested = True

  def reached(self, step):
    """Whether to checkpoint and stop after `step`; call it after every step."""
    if self._multiprocess:
      return multihost_utils.reached_preemption_sync_point(step)
    return self.requested

  def restore(self):
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)


def _save_finished_work(mngr, state, step):
  """Checkpoints the steps done since the last save before a bad file or Ctrl-C ends the run."""
  if step <= (mngr.latest_step() or 0) or jax.process_count() > 1:
    return  # a save needs every process, and the others are not stopping
  try:
    if not np.isfinite(float(optax.tree.norm(state.params))):
      raise FloatingPointError('non-finite parameters')
    checkpoints.save(mngr, state, force=True)
    logging.warning('saved a checkpoint at step %d before stopping; rerun to resume', step)
  except Exception as e:  # pylint: disable=broad-except  # e.g. Ctrl-C inside a donated step
    logging.warning('could not checkpoint step %d before stopping: %s', step, e)


def _check_finite(metrics, step):
  """Raises if the step's loss, gradients or updated parameters are NaN/inf.

  Not the loss alone: OHEM keeps no pixel whose probability is NaN, so with
  NaN parameters the loss can read 0; and the updated parameters, which are
  what a checkpoint saves, can turn NaN in a step whose loss was finite.
  """
  values = jax.device_get({k: metrics[k] for k in ('loss', 'grad_norm', 'param_norm')})
  bad = {k: float(v) for k, v in values.items() if not np.isfinite(v)}
  if bad:
    raise FloatingPointError(
        f'non-finite {bad} at step {step}; stopped before it reaches a checkpoint '
        '(lower train.base_lr, or check the data)')


def epoch_items(config, train_sources, indexes, epoch):
  """The epoch's (source position, image, centroid or None) items, shuffled."""
  real, pseudo = items_per_epoch(config, len(train_sources[0]), len(train_sources) > 1)
  if len(train_sources) > 1 and not real:  # pseudo.only: draws as in joint training
    items = sampler.epoch_items(
        indexes[1], len(train_sources[1]), pseudo, seed=config.seed, epoch=epoch, stream=1,
        class_uniform_fraction=config.pseudo.class_uniform_fraction)
    return [(1, image, center) for image, center in items]
  if len(train_sources) == 1:
    items = sampler.epoch_items(
        indexes[0], len(train_sources[0]), real, seed=config.seed, epoch=epoch,
        class_uniform_fraction=config.train.class_uniform_fraction)
    return [(0, image, center) for image, center in items]
  mixed = sampler.mixed_epoch_items(
      indexes[0], len(train_sources[0]), indexes[1], len(train_sources[1]),
      num_real=real, ratio=config.pseudo.ratio,
      real_class_uniform=config.train.class_uniform_fraction,
      pseudo_class_uniform=second_stream_class_uniform(config),
      seed=config.seed, epoch=epoch)
  return [(0 if tag == 'real' else 1, image, center) for tag, image, center in mixed]


def _train_batches(config, plan, train_sources, indexes, step, soft_k=0):
  """(epoch plan, local batch) pairs from global step `step` to the end."""
  first_epoch, start_batch = position(plan, step)
  for epoch in range(first_epoch, len(plan)):
    p = plan[epoch]
    batches = pipeline.train_epoch(
        train_sources, epoch_items(config, train_sources, indexes, epoch), crop=p.crop,
        global_batch=p.batch_size, seed=config.seed, epoch=epoch,
        options=pipeline.AugmentOptions.from_config(config.augment),
        pseudo_options=pipeline.pseudo_augment_options(config),
        pseudo_sources=(1,) if config.pseudo.dir else (),
        start_batch=start_batch if epoch == first_epoch else 0,
        num_workers=config.data.num_workers, soft_k=soft_k)
    for local_batch in batches:
      yield p, local_batch


class Progress:
  """The interval's training metrics into metrics.jsonl and one console line.

  The ETA uses a moving average of the step time: one interval alone jumps
  between seconds and minutes when the input pipeline stalls.
  """
  SMOOTHING = 0.3  # weight of the newest interval

  def __init__(self, writer, total_steps, step):
    self.writer, self.total_steps = writer, total_steps
    self.start = self.last_time = time.time()
    self.last_step, self.seconds_per_step = step, None

  def log(self, step, pending, p):
    """Fetches the metrics (the loop's only host sync), checks and writes them."""
    values = jax.device_get(pending)
    for offset, v in enumerate(values):
      _check_finite(v, step - len(values) + offset + 1)
    now = time.time()
    interval = (now - self.last_time) / max(step - self.last_step, 1)
    self.seconds_per_step = interval if self.seconds_per_step is None else (
        self.SMOOTHING * interval + (1 - self.SMOOTHING) * self.seconds_per_step)
    self.last_time, self.last_step = now, step
    record = {k: float(np.mean([v[k] for v in values])) for k in values[0]}
    record.update(crop=p.crop, batch_size=p.batch_size, images_per_sec=p.batch_size / interval)
    self.writer.write(step, record)
    eta = (self.total_steps - step) * self.seconds_per_step
    logging.info('step %d/%d  loss %.4f  lr %.5f  crop %d  batch %d  %.1f img/s  '
                 'elapsed %.0fs  ETA %.0fs', step, self.total_steps, record['loss'],
                 record['lr'], p.crop, p.batch_size, record['images_per_sec'],
                 now - self.start, eta)


def second_stream_class_uniform(config):
  """Centroid-sampling share of the second stream: the pseudo labels', or for
  the duplicate-real baseline the real stream's own (the teacher's sampling:
  the baseline must differ from the teacher's recipe only in what it repeats)."""
  if config.pseudo.duplicate_real:
    return config.train.class_uniform_fraction
  return config.pseudo.class_uniform_fraction


def centroid_indexes(config, train_sources, workdir):
  """Per train source, its centroid index when centroid sampling uses it."""
  fractions = [0.0 if config.pseudo.get('only', False) else config.train.class_uniform_fraction,
               second_stream_class_uniform(config)]
  indexes = []
  for source, fraction in zip(train_sources, fractions):
    if not fraction:
      indexes.append(None)
    elif hasattr(source, 'centroid_index'):  # pseudo labels carry their centroids
      indexes.append(source.centroid_index())
    else:
      indexes.append(centroids.build_index(
          source, source.num_classes, config.augment.ignore_label,
          os.path.join(workdir, 'centroids'), centroids.source_fingerprint(source),
          min_pixels=config.train.centroid_min_pixels))
  return indexes


def loss_class_weights(config, source, workdir):
  """The loss's per-class weights per config.loss.class_weighting, or None."""
  method = config.loss.get('class_weighting', '')
  if not method:
    return None
  counts = class_stats.cached_pixel_counts(
      source, source.num_classes, os.path.join(workdir, 'class_pixels.json'),
      centroids.source_fingerprint(source))
  weights = losses.class_weights(counts, method)
  logging.info('%s class weights: %s', method,
               {name: round(float(w), 2) for name, w in zip(source.class_names, weights)})
  return weights


if __name__ == '__main__':
  cli.run(train_and_evaluate, 'Where checkpoints and metrics go.')
