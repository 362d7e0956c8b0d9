"""Trainer step time per crop bucket, FLOPs and MFU, and crop-schedule speedups.

  python -m stseg_jax.bench --config=configs/bench_schedules.py --workdir=/tmp/bench \
      [--config.bench.run_schedules=True] [--config.model.dtype=bfloat16 ...]

1. Compiles the trainer's step ahead of time at every crop bucket of the
   schedules (compile time apart) and times it: the median of
   `bench.timing_steps` calls after `bench.warmup_steps`, on random uint8
   batches already on the devices.
2. FLOPs per step from XLA's cost analysis of the compiled step (and, as a
   cross-check, of the unoptimised HLO); achieved FLOP/s, and MFU where the
   device's peak is in PEAK_BF16_FLOPS.
3. Per schedule, the predicted time to process as many images as the constant
   crop (steps x the bucket's median step time, summed over epochs), its
   speedup over constant, and the ideal speedup from pixel counts alone.
4. With `bench.run_schedules`, trains each schedule for real through
   `train.train_and_evaluate` (WORKDIR/runs/<schedule>, wiped first) and
   measures it.
5. The same network's forward, backward and SGD update in plain jax at the
   largest crop, so the trainer's overhead shows.

Writes WORKDIR/bench.json and WORKDIR/bench.png and prints tables (schedule_report.py).
"""
from concurrent import futures
import datetime
import functools
import json
import os
import shutil
import time

from absl import logging
import jax
from jax.experimental import multihost_utils
import numpy as np
import optax

from stseg_jax import config_check
from stseg_jax import errors
from stseg_jax import metric_writer
from stseg_jax import models
from stseg_jax import optim
from stseg_jax import schedules
from stseg_jax import sharding
from stseg_jax import train
from stseg_jax import train_state
from stseg_jax.bench import schedule_report
from stseg_jax.bench import timing
from stseg_jax.data import mixture
from stseg_jax.data import sources

# --- Prediction (pure) --------------------------------------------------------

def schedule_totals(plan, step_seconds=None):
  """Images, pixels and (given {crop: seconds per step}) seconds of a plan."""
  totals = {'images': sum(p.steps * p.batch_size for p in plan),
            'pixels': sum(p.steps * p.batch_size * p.crop ** 2 for p in plan)}
  if step_seconds is not None:
    totals['seconds'] = sum(p.steps * step_seconds[p.crop] for p in plan)
  return totals


def speedups(totals, baseline='constant'):
  """Each schedule's time at the baseline's image count and speedups over it.

  Epochs drop their incomplete last batch, so schedules see slightly
  different image counts; time and pixels are compared per image.
  """
  base = totals[baseline]
  out = {}
  for name, t in totals.items():
    row = {'ideal_speedup': (base['pixels'] / base['images']) / (t['pixels'] / t['images'])}
    if 'seconds' in t:
      row['seconds_at_equal_images'] = t['seconds'] * base['images'] / t['images']
      row['speedup'] = base['seconds'] / row['seconds_at_equal_images']
    out[name] = row
  return out


def loop_seconds(records):
  """Seconds of the train loop, from metrics.jsonl records.

  The trainer logs images/s over each interval since the last log (from the
  loop's start for the first); steps x batch / (images/s) gives it back.
  """
  seconds, last_step = 0.0, 0
  for r in records:
    if 'images_per_sec' in r:
      seconds += (r['step'] - last_step) * r['batch_size'] / r['images_per_sec']
      last_step = r['step']
  return seconds


def model_flops(config, model, tx, state, bucket):
  """FLOPs of one global train step, from its unoptimised HLO lowered for a CPU.

  The count belongs to the model, not the device: lowering for one CPU gives
  it on every platform. GPUs need it: their compiled count misses what XLA
  hands to cuDNN and cuBLAS (jax issue #22249; 1% of the step on an H200),
  and jax 0.11 gives no count for a GPU's lowered step.
  """
  cpu_mesh = sharding.make_mesh(jax.devices('cpu')[:1])
  abstract_state = jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding.replicated(cpu_mesh)),
      state)
  batch = train.batch_spec(bucket.batch_size, bucket.crop, cpu_mesh)
  _, horizon = train.step_spec(state, cpu_mesh)
  lowered = train.make_step_fn(config, model, tx, cpu_mesh).lower(abstract_state, batch, horizon)
  return timing.flops(lowered)


def _compile_timed(step_fn, state, bucket, mesh):
  start = time.perf_counter()
  compiled = train.compile_buckets(step_fn, state, [bucket], mesh)[bucket.crop].result()
  return compiled, time.perf_counter() - start


def time_buckets(config, model, tx, state, num_classes, buckets, mesh, total_images):
  """Compile time, median step time, FLOPs and MFU of the trainer per bucket.

  With `bench.compile_workers` > 1 the buckets compile concurrently (XLA
  releases the GIL), as the trainer's background compiles would; each
  bucket's compile seconds then overlap. Returns the rows, the compile wall
  time, and the state after the last step (the step donates it).
  """
  step_fn = train.make_step_fn(config, model, tx, mesh)
  horizon = sharding.to_replicated(np.int32(total_images), mesh)
  start = time.perf_counter()
  with futures.ThreadPoolExecutor(config.bench.compile_workers) as pool:
    jobs = [pool.submit(_compile_timed, step_fn, state, p, mesh) for p in buckets]
    compiled = [job.result() for job in jobs]
  compile_wall = time.perf_counter() - start
  rows = []
  for p, (step, compile_seconds) in zip(buckets, compiled):
    batch = timing.random_batch(p.batch_size, p.crop, num_classes, mesh, seed=p.crop)
    step_flops = model_flops(config, model, tx, state, p)
    median, times, state = timing.time_steps(lambda s, b: step(s, b, horizon),  # pylint: disable=cell-var-from-loop
                                             state, batch, config.bench.warmup_steps,
                                             config.bench.timing_steps)
    rows.append({'crop': p.crop, 'batch_size': p.batch_size,
                 'compile_seconds': compile_seconds, 'step_seconds': median,
                 'step_seconds_all': times, **timing.rates(step, step_flops, median, p.batch_size),
                 **timing.memory(step)})
    logging.info('bucket %d x %d: compile %.1fs, step %.4fs, MFU %s, temp %s bytes', p.crop,
                 p.batch_size, compile_seconds, median, rows[-1]['mfu'],
                 rows[-1]['temp_bytes'])
  return rows, compile_wall, state


def time_plain(config, model, state, num_classes, bucket, mesh):
  """`timing.plain_step` at one bucket, timed like the trainer's step.

  Starts from (and consumes) the trainer's `state`: one initialisation less.
  """
  tx = optax.sgd(config.train.base_lr, momentum=config.train.momentum)
  carry = (state.params, state.batch_stats, jax.jit(tx.init)(state.params))
  batch = timing.random_batch(bucket.batch_size, bucket.crop, num_classes, mesh,
                              seed=bucket.crop)
  step = jax.jit(functools.partial(timing.plain_step, model=model, tx=tx,
                                   aux_weight=config.loss.aux_weight,
                                   dropout_rng=jax.random.key(config.seed)),
                 donate_argnums=0)
  start = time.perf_counter()
  lowered = step.lower(carry, batch)
  compiled = lowered.compile()
  compile_seconds = time.perf_counter() - start
  median, times, _ = timing.time_steps(compiled, carry, batch, config.bench.warmup_steps,
                                       config.bench.timing_steps)
  return {'crop': bucket.crop, 'batch_size': bucket.batch_size,
          'compile_seconds': compile_seconds, 'step_seconds': median,
          'step_seconds_all': times,
          **timing.rates(compiled, timing.flops(lowered), median, bucket.batch_size)}


# --- Real runs ----------------------------------------------------------------

class CompileTimes:
  """Seconds jax spends tracing, lowering and compiling the train step, from
  jax.monitoring events (they also fire in the trainer's compile thread)."""

  def __init__(self):
    self.events = []

  def __call__(self, event, seconds, **kwargs):
    if kwargs.get('fun_name') in ('train_step', 'jit(train_step)'):
      self.events.append((event, seconds))

  def total(self):
    return sum(s for _, s in self.events)

  def first_bucket(self):
    """Up to the first backend compile: the bucket compiled before the loop starts."""
    seconds = 0.0
    for event, s in self.events:
      seconds += s
      if event.endswith('backend_compile_duration'):
        break
    return seconds


def run_schedule(config, name, workdir):
  """Trains schedule `name` for real; wall, loop and compile seconds, images/s."""
  c = config.copy_and_resolve_references()
  c.train.schedule = name
  # One log, evaluation and checkpoint, all at the last step; the log comes
  # first, so the loop time below excludes the other two.
  c.log_every = c.eval_every = c.checkpoint_every = 10**9
  if not c.bench.full_eval:  # a token evaluation: speed runs only
    c.eval.batch_size = jax.device_count()
    c.eval.max_images = jax.device_count()
  c.eval.num_visuals = 0
  if jax.process_index() == 0:
    shutil.rmtree(workdir, ignore_errors=True)  # else the trainer would resume
  _sync(f'rmtree {name}')
  compile_times = CompileTimes()
  jax.monitoring.register_event_duration_secs_listener(compile_times)
  try:
    start = time.perf_counter()
    train.train_and_evaluate(c, workdir)
    wall = time.perf_counter() - start
  finally:
    jax.monitoring.unregister_event_duration_listener(compile_times)
  records = metric_writer.read_metrics(workdir)
  with open(os.path.join(workdir, 'eval.json')) as f:
    evaluation = json.load(f)
  loop = loop_seconds(records)
  first = compile_times.first_bucket()
  return {'eval_miou': evaluation['miou'], 'eval_images': evaluation['num_images'],
          'wall_seconds': wall, 'loop_seconds': loop,
          'compile_seconds': compile_times.total(),
          'first_bucket_compile_seconds': first,
          # What the schedule costs: the loop (which waits for any bucket the
          # background thread has not finished) plus the compile before it.
          'seconds': loop + first}


def _sync(tag):
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(tag)


def warm_source(source):
  """Reads every training image once, so the first schedule does not pay for
  rendering (synthetic scenes) or a cold file cache."""
  for i in range(len(source)):
    source[i]  # pylint: disable=pointless-statement


# --- The benchmark ------------------------------------------------------------

def bench_config(config):
  """The config with epoch_items set from the image budget, and the schedules
  to compare, 'constant' (the baseline) first."""
  c = config.copy_and_resolve_references()
  if c.bench.image_budget:
    c.train.epoch_items = c.bench.image_budget // c.train.num_epochs
  names = ['constant'] + [n for n in c.bench.schedules if n != 'constant']
  return c, names


def plans_for(config, names, num_train):
  plans = {}
  for name in names:
    c = config.copy_and_resolve_references()
    c.train.schedule = name
    plans[name] = schedules.make_plan(c.train, sum(mixture.counts(c.train, c.pseudo, num_train)),
                                      jax.device_count())
  return plans


def run(config, workdir):
  config_check.validate(config)
  config, names = bench_config(config)
  for name in names:
    if name not in schedules.SCHEDULES:
      raise errors.ConfigError(f'config.bench.schedules: {name!r} is not one of '
                               f'{list(schedules.SCHEDULES)}')
  os.makedirs(workdir, exist_ok=True)
  mesh = sharding.make_mesh()
  source = sources.open_source(config.data, config.data.train_split)
  model = models.from_config(config.model, source.num_classes)
  plans = plans_for(config, names, len(source))
  buckets = sorted({p.crop: p for plan in plans.values() for p in plan}.values(),
                   key=lambda p: p.crop)
  constant_images = schedule_totals(plans['constant'])['images']

  tx = optim.sgd_direction(config.train.momentum, config.train.weight_decay)
  state = train_state.create_train_state(model, tx, jax.random.key(config.seed), mesh)
  rows, compile_wall, state = time_buckets(config, model, tx, state, source.num_classes,
                                           buckets, mesh, constant_images)
  if jax.process_index() == 0:  # kept should a later stage fail or run out of time
    with open(os.path.join(workdir, 'buckets.json'), 'w') as f:
      json.dump({'device': jax.devices()[0].device_kind, 'buckets': rows,
                 'compile_wall_seconds': compile_wall}, f, indent=2)
  plain = None
  if config.bench.plain_jax:
    plain = time_plain(config, model, state, source.num_classes, buckets[-1], mesh)
    trainer_at_largest = rows[-1]['step_seconds']
    plain['trainer_step_seconds'] = trainer_at_largest
    plain['trainer_overhead_percent'] = 100 * (trainer_at_largest / plain['step_seconds'] - 1)
  del state  # donated to the last step

  step_seconds = {r['crop']: r['step_seconds'] for r in rows}
  totals = {n: schedule_totals(plans[n], step_seconds) for n in names}
  compared = speedups(totals)
  schedules_out = {}
  for n in names:
    schedules_out[n] = {
        'crops': [p.crop for p in plans[n]], 'batch_sizes': [p.batch_size for p in plans[n]],
        'steps': [p.steps for p in plans[n]], 'images': totals[n]['images'],
        'pixels': totals[n]['pixels'], 'ideal_speedup': compared[n]['ideal_speedup'],
        'predicted_seconds': totals[n]['seconds'],
        'predicted_seconds_at_equal_images': compared[n]['seconds_at_equal_images'],
        'predicted_speedup': compared[n]['speedup'], 'measured': None}

  if config.bench.run_schedules:
    only = tuple(n for n in config.bench.run_only if n)  # none = every schedule
    run_names = [n for n in names if not only or n == 'constant' or n in only]
    warm_source(source)
    measured = {}
    for n in run_names:
      logging.info('Training schedule %s for real', n)
      measured[n] = run_schedule(config, n, os.path.join(workdir, 'runs', n))
      measured[n]['images'] = totals[n]['images']
      measured[n]['images_per_sec'] = totals[n]['images'] / measured[n]['loop_seconds']
    base = measured['constant']
    for n in run_names:
      m = measured[n]
      m['speedup'] = (base['seconds'] / base['images']) / (m['seconds'] / m['images'])
      m['speedup_vs_ideal'] = m['speedup'] / compared[n]['ideal_speedup']
      schedules_out[n]['measured'] = m

  device = jax.devices()[0]
  result = {
      'date': datetime.datetime.now().isoformat(timespec='seconds'),
      'jax_version': jax.__version__,
      'device': {'kind': device.device_kind, 'platform': device.platform,
                 'count': jax.device_count(), 'process_count': jax.process_count(),
                 'peak_bf16_flops_per_device': timing.peak_flops(device.device_kind)},
      'model': dict(config.model), 'buckets': rows,
      'compile_wall_seconds': compile_wall, 'plain_jax': plain,
      'schedules': schedules_out, 'config': json.loads(config.to_json_best_effort()),
  }
  if jax.process_index() == 0:
    with open(os.path.join(workdir, 'bench.json'), 'w') as f:
      json.dump(result, f, indent=2)
    schedule_report.plot(result, os.path.join(workdir, 'bench.png'))
    print(schedule_report.tables(result), flush=True)
  return result
