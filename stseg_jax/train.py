"""Trains a segmentation model from a config; resumes from WORKDIR if it can.

  python -m stseg_jax.train --config=configs/synthetic_fastscnn.py --workdir=/tmp/demo \
      [--config.train.num_epochs=4 ...]
"""
import collections
import functools
import json
import os
from concurrent import futures

from absl import logging
from etils import epath
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from stseg_jax import checkpoints
from stseg_jax import cli
from stseg_jax import config_check
from stseg_jax import errors
from stseg_jax import evaluate as evaluate_lib
from stseg_jax import losses
from stseg_jax import metric_writer
from stseg_jax import models
from stseg_jax import online
from stseg_jax import optim
from stseg_jax import preemption as preemption_lib
from stseg_jax import profiler as profiler_lib
from stseg_jax import progress as progress_lib
from stseg_jax import schedules
from stseg_jax import sharding
from stseg_jax import train_state
from stseg_jax import workdir as workdir_lib
from stseg_jax.data import centroids
from stseg_jax.data import class_stats
from stseg_jax.data import mixture
from stseg_jax.data import pipeline
from stseg_jax.data import sources


def train_step(state, batch, total_images, *, model, tx, config, class_weights=None):
  """One SGD step on a global batch; returns the new state and metrics.

  `total_images` (the poly LR's horizon) is an argument, not a constant, so a
  bucket's compiled step is the same for any run length and a persistent XLA
  cache serves it to the next run.
  """
  images, labels, extra_metrics = models.normalize(batch['image'], model.dtype), batch['label'], {}
  # Dropout (WideResNet38) draws from a key tied to the step: reproducible.
  dropout_rng = jax.random.fold_in(jax.random.key(config.seed), state.step)
  if config.pseudo.online:  # the EMA teacher labels the unlabeled crops (online.py)
    images, labels, extra_metrics = online.student_batch(
        model, state.ema, batch, config.pseudo, jax.random.fold_in(dropout_rng, 1))
  lr = optim.poly_lr(state.images_seen, total_images, config.train.base_lr,
                     config.train.lr_power, config.train.warmup_images)
  batch_ratio = images.shape[0] / config.train.batch_size  # static per crop bucket
  lr = lr * batch_ratio ** config.train.lr_batch_power

  def loss_fn(params):
    outputs, new_vars = model.apply(
        {'params': params, 'batch_stats': state.batch_stats}, images,
        train=True, mutable=['batch_stats'], rngs={'dropout': dropout_rng})
    soft = None
    if 'soft_index' in batch:  # pseudo.soft: the teacher's top-K probabilities
      soft = losses.topk_distribution(batch['soft_index'], batch['soft_prob'],
                                      outputs['logits'].shape[-1])
    # Pixels OHEM keeps unranked, unless loss.ohem_pseudo: a teacher's labels, and
    # the truth ceiling's in their place (it differs from the student in labels only).
    exempt = None
    if (config.loss.ohem and not config.loss.ohem_pseudo and
        mixture.second_stream(config.pseudo) in (*mixture.TAUGHT, mixture.TRUTH)):
      exempt = jnp.broadcast_to(batch['second'][:, None, None] > 0, labels.shape)
    loss = losses.segmentation_loss(
        outputs, labels, ohem=config.loss.ohem, ohem_thresh=config.loss.ohem_thresh,
        ohem_min_kept=config.loss.ohem_min_kept, ohem_exempt=exempt,
        aux_weight=config.loss.aux_weight, class_weights=class_weights, soft_targets=soft)
    return loss, new_vars['batch_stats']

  (loss, batch_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  direction, opt_state = tx.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, optim.apply_lr(direction, lr))
  teacher = {}
  if config.pseudo.online:
    teacher['ema'] = online.ema_update(state.ema, {'params': params, 'batch_stats': batch_stats},
                                       config.pseudo.ema_decay, state.step + 1)
  new_state = state.replace(step=state.step + 1,
                            images_seen=state.images_seen + images.shape[0],
                            params=params, batch_stats=batch_stats,
                            opt_state=opt_state, **teacher)
  return new_state, {'loss': loss, 'lr': lr, 'grad_norm': optax.tree.norm(grads),
                     'param_norm': optax.tree.norm(params), **extra_metrics}


def make_step_fn(config, model, tx, mesh, class_weights=None):
  """`train_step` jitted over the mesh: state replicated and donated, batch split."""
  return jax.jit(
      functools.partial(train_step, model=model, tx=tx, config=config,
                        class_weights=class_weights),
      in_shardings=(sharding.replicated(mesh), sharding.data_sharding(mesh),
                    sharding.replicated(mesh)),
      out_shardings=(sharding.replicated(mesh), sharding.replicated(mesh)),
      donate_argnums=0)


def batch_spec(batch_size, crop, mesh, soft_k=0, strong=False):
  """The global batch of a bucket as ShapeDtypeStructs (see pipeline.train_epoch);
  `strong`: every crop also has a strong view (online self-training)."""
  data = sharding.data_sharding(mesh)
  pixels = (batch_size, crop, crop)
  spec = {'image': jax.ShapeDtypeStruct(pixels + (3,), jnp.uint8, sharding=data),
          'label': jax.ShapeDtypeStruct(pixels, jnp.uint8, sharding=data),
          'second': jax.ShapeDtypeStruct((batch_size,), jnp.uint8, sharding=data)}
  if soft_k:
    spec['soft_index'] = jax.ShapeDtypeStruct(pixels + (soft_k,), jnp.uint8, sharding=data)
    spec['soft_prob'] = jax.ShapeDtypeStruct(pixels + (soft_k,), jnp.float16, sharding=data)
  if strong:
    spec['strong'] = jax.ShapeDtypeStruct(pixels + (3,), jnp.uint8, sharding=data)
  return spec


def step_spec(state, mesh):
  """The arguments of `train_step` but the batch: the state, and the LR horizon."""
  horizon = jax.ShapeDtypeStruct((), jnp.int32, sharding=sharding.replicated(mesh))
  return checkpoints.abstract(state), horizon


def compile_buckets(step_fn, state, plan, mesh, executor=None, soft_k=0, strong=False):
  """One compiled train step per crop bucket, compiled ahead of use.

  Returns {crop: future of the compiled step}; with an executor the buckets
  after the first compile while training runs.
  """
  abstract_state, horizon = step_spec(state, mesh)
  compiled = {}
  for p in plan:
    if p.crop in compiled:
      continue
    batch = batch_spec(p.batch_size, p.crop, mesh, soft_k, strong)
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
  epath.Path(workdir).mkdir(parents=True, exist_ok=True)
  with workdir_lib.lock(workdir):
    return _train_and_evaluate(config, workdir)


def _train_and_evaluate(config, workdir):
  workdir_lib.check_resume(config, workdir)
  mesh = sharding.make_mesh()
  logging.info('%d %s device(s) over %d process(es); config in %s', jax.device_count(),
               jax.devices()[0].platform, jax.process_count(),
               os.path.join(workdir, 'config.json'))
  workdir_lib.write_config(config, workdir)

  real = sources.open_source(config.data, config.data.train_split)
  config_check.check_crop_fits(config, sources.largest_image_side(real), config.data.train_split)
  mix = mixture.open_mixture(config.train, config.pseudo, config.data, real, config.unlabeled)
  eval_source = sources.open_source(config.data, config.data.eval_split,
                                    instances=config.eval.instance_metrics)
  model = models.from_config(config.model, real.num_classes)
  plan = schedules.make_plan(config.train, mix.items_per_epoch, jax.device_count())
  total_steps = sum(p.steps for p in plan)
  total_images = sharding.to_replicated(np.int32(sum(p.steps * p.batch_size for p in plan)),
                                        mesh)
  indexes = mixture.centroid_indexes(mix, os.path.join(workdir, 'centroids'))
  class_weights = loss_class_weights(config, real, workdir)

  tx = optim.sgd_direction(config.train.momentum, config.train.weight_decay)
  mngr = checkpoints.manager(workdir, config.keep_checkpoints)
  state = _initial_state(config, model, tx, mesh, mngr)
  step_fn = make_step_fn(config, model, tx, mesh, class_weights)
  executor = futures.ThreadPoolExecutor(max_workers=1)
  compiled = compile_buckets(step_fn, state, plan, mesh, executor, mix.soft_k,
                            mix.second == mixture.ONLINE)
  evaluator = evaluate_lib.Evaluator(model, eval_source, mesh, config.eval, config.inference)
  writer = metric_writer.MetricWriter(workdir, resumed_step=int(state.step))

  preemption = preemption_lib.Preemption()
  profiler = profiler_lib.Profiler(os.path.join(workdir, 'profile'), config.profile_steps,
                                   int(state.step))
  step = int(state.step)
  end_step = min(config.train.stop_at_step or total_steps, total_steps)
  pending, progress = [], progress_lib.Progress(total_steps, step, every=config.log_every)
  batches = _on_devices(_train_batches(config, plan, mix, indexes, step), mesh)
  try:
    for p, batch in batches:
      if step >= end_step:
        break
      profiler.step(step)
      state, metrics = compiled[p.crop].result()(state, batch, total_images)
      step += 1
      pending.append(metrics)
      if step % config.log_every == 0 or step == end_step:
        _log_interval(progress, writer, step, pending, p, last=step == end_step)
        pending = []
      if step % config.eval_every == 0 or step == total_steps:
        _evaluate(evaluator, state, writer, workdir, config, step, step == total_steps)
      preempted = preemption.reached(step)
      if step % config.checkpoint_every == 0 or step == end_step or preempted:
        _check_finite(metrics, step)  # never checkpoint NaN parameters
        checkpoints.save(mngr, state)
      if preempted:  # checkpointed above; Ctrl-C exits 130, SIGTERM EXIT_PREEMPTED
        raise (KeyboardInterrupt() if preemption.interrupted
               else workdir_lib.Preempted.at_step(workdir, step, total_steps))
    preemption.restore()  # no step left to end at: a signal acts at once again
    if preemption.interrupted:  # during the last step, after its check
      raise KeyboardInterrupt()
    _finish(evaluator, state, writer, workdir, config, step, total_steps, model, mesh)
  except workdir_lib.Preempted:
    mngr.wait_until_finished()
    raise
  except (errors.DataError, KeyboardInterrupt):
    _save_finished_work(mngr, state, step)
    raise
  finally:  # also on errors: finish async saves, stop threads and data workers
    batches.close()
    pipeline.release_shared_memory()  # batches held in cycles: freed now, not at exit
    profiler.stop()
    mngr.wait_until_finished()
    preemption.restore()
    executor.shutdown(cancel_futures=True)
    writer.close()
  return state


def _finish(evaluator, state, writer, workdir, config, step, total_steps, model, mesh):
  """After the loop: the final evaluation if it is missing, the held-out split's
  score; a run stopped short of its steps raises workdir.Preempted."""
  if step < total_steps:  # not finished, so neither exit 0 nor a finished stage
    raise workdir_lib.Preempted.at_step(workdir, step, total_steps, 'train.stop_at_step reached')
  if not _evaluated_at(workdir, config, step):
    # Every step was trained but the final evaluation is missing: it failed
    # (a bad val image, since fixed) or the job died before it. A run is
    # finished when its outputs are.
    logging.info('Evaluating the final step %d (its evaluation had not finished)', step)
    _evaluate(evaluator, state, writer, workdir, config, step, final=True)
  evaluate_lib.score_held_out(model, state.variables, mesh, config, workdir, step)


def _initial_state(config, model, tx, mesh, mngr):
  """The newest readable checkpoint's state, else a fresh one (from
  config.train.init_from's weights if set)."""
  state = train_state.create_train_state(model, tx, jax.random.key(config.seed), mesh,
                                       config.model.pretrained, config.model.get('backbone'))
  if config.pseudo.online:
    state = online.with_ema(state)
  restored = checkpoints.restore(mngr, checkpoints.abstract(state), quarantine=True,
                                 restart_if_unreadable=config.resume_anyway)
  if restored is not None:
    logging.info('Resumed from step %d', int(restored.step))
    return restored
  if config.train.init_from:
    state = train_state.init_from_checkpoint(state, config.train.init_from, mesh)
    if config.pseudo.online:  # the teacher starts from the loaded weights too
      state = online.with_ema(state)
  return state


def _evaluate(evaluator, state, writer, workdir, config, step, final):
  """An evaluation into metrics.jsonl; the final one also into eval.json."""
  result = evaluator.run(state.variables)
  writer.write(step, {'eval_miou': result['miou'], 'eval_pixel_accuracy': result['pixel_accuracy']})
  logging.info('step %d: eval mIoU %.4f', step, result['miou'])
  if final:
    evaluate_lib.write_result(workdir, result, config, step, final=True)
  evaluator.save_examples(state.variables, os.path.join(workdir, 'visuals', f'step_{step}'),
                          config.eval.num_visuals)


def _evaluated_at(workdir, config, step):
  """Whether the run's own eval result is of `step`."""
  path = epath.Path(workdir) / evaluate_lib.result_file(workdir, config.data)
  try:
    return json.loads(path.read_text()).get('checkpoint_step') == step
  except (OSError, ValueError):
    return False


def _on_devices(batches, mesh, ahead=2):
  """(plan, global batch) pairs, each put on the devices `ahead` steps early, so
  the host-to-device copy of the next batches overlaps the current step."""
  queue = collections.deque()
  try:
    for p, local_batch in batches:
      queue.append((p, sharding.to_global(local_batch, mesh)))
      if len(queue) > ahead:
        yield queue.popleft()
    yield from queue
  finally:
    batches.close()


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


def _train_batches(config, plan, mix, indexes, step):
  """(epoch plan, local batch) pairs from global step `step` to the end."""
  first_epoch, start_batch = schedules.position(plan, step)
  for epoch in range(first_epoch, len(plan)):
    p = plan[epoch]
    batches = pipeline.train_epoch(
        mix.sources, mixture.epoch_items(mix, indexes, config.seed, epoch), crop=p.crop,
        global_batch=p.batch_size, seed=config.seed, epoch=epoch,
        options=pipeline.AugmentOptions.from_config(config.augment),
        second_options=pipeline.second_stream_augment_options(config.augment, config.pseudo),
        second_sources=mix.second_positions,
        strong_options=pipeline.strong_view_options(config.augment, config.pseudo),
        start_batch=start_batch if epoch == first_epoch else 0,
        num_workers=config.data.num_workers, soft_k=mix.soft_k)
    iterator = iter(batches)
    try:
      for local_batch in iterator:
        yield p, local_batch
    finally:  # grain's worker processes and prefetch buffers (shared memory) go now
      iterator.close()


def _log_interval(progress, writer, step, pending, p, last):
  """Fetches the interval's metrics (the loop's only host sync), checks them, writes
  them to metrics.jsonl and, about 20 times a run, a console line."""
  values = jax.device_get(pending)
  for offset, v in enumerate(values):
    _check_finite(v, step - len(values) + offset + 1)
  interval = progress.advance(step)
  record = {k: float(np.mean([v[k] for v in values])) for k in values[0]}
  record.update(crop=p.crop, batch_size=p.batch_size, images_per_sec=p.batch_size / interval)
  writer.write(step, record)
  if progress.show or last:
    logging.info('step %d/%d  loss %.4f  lr %.5f  crop %d  batch %d  %.1f img/s  '
                 'elapsed %.0fs  ETA %.0fs', step, progress.total, record['loss'],
                 record['lr'], p.crop, p.batch_size, record['images_per_sec'],
                 progress.elapsed, progress.eta)


def loss_class_weights(config, source, workdir):
  """The loss's per-class weights per config.loss.class_weighting, or None."""
  method = config.loss.class_weighting
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
