"""What only an accelerator can show, in one capped command: `python -m stseg_jax.bench.suite`.

  python -m stseg_jax.bench.suite --config=configs/bench_suite.py --workdir=W [--smoke]

Four parts, each in its own process with its own time cap
(`suite.part_seconds`), so one that runs out of time leaves the others'
figures; W/suite.json is rewritten after every part. The parts share a
persistent XLA cache (W/xla_cache unless JAX_COMPILATION_CACHE_DIR is set), so
a program compiled by one part is a cache hit in the next:

  step        the trainer's whole step per model of `suite.models` at the crop
              and batch of config.train: step time, images/s, MFU against
              the device's dense bf16 peak, peak device memory
  profile     a jax.profiler trace of a few steps of the first model, reduced
              on the spot to the top ops by device time, each with a category
              (convolution, batch norm, resize, OHEM selection, loss,
              copy/transpose, collective, the optimizer, elementwise and other)
              and its share; the trace stays in W/profile for a closer look
  inference   images/s per device of the labelling recipe
              (config.pseudo_label.inference: scales, flip, tiles) on
              `suite.inference_size` images, random weights
  schedules   the crop buckets of `suite.schedule_crops`, largest first,
              compiled one at a time into the persistent XLA cache and timed
              until the part's deadline (buckets not reached are predicted
              from a line through the timed ones, and named); coarse2fine+'s
              predicted speedup over constant beside the pixel-count ideal
              (bench/crop_schedules.py)

plus the device, driver, jax/jaxlib versions and XLA flags. `--smoke` swaps in
`suite.smoke`'s tiny sizes (Fast-SCNN, small crops) so the whole suite runs on
a CPU in a minute or two: tests/test_bench_suite.py runs it in CI.
"""
import json
import os
import re
import signal
import subprocess
import sys
import time

from absl import flags
from absl import logging
import jax
import jaxlib
import ml_collections
import numpy as np

from stseg_jax import cli
from stseg_jax import config_check
from stseg_jax import errors
from stseg_jax import inference
from stseg_jax import models
from stseg_jax import optim
from stseg_jax import schedules
from stseg_jax import sharding
from stseg_jax import train
from stseg_jax import train_state
from stseg_jax import workdir as workdir_lib
from stseg_jax.bench import crop_schedules
from stseg_jax.bench import inference as inference_bench
from stseg_jax.bench import timing

PARTS = ('step', 'profile', 'inference', 'schedules')


# --- Configs of the parts -----------------------------------------------------

def with_overrides(config, overrides):
  """A copy of `config` with the (nested) `overrides` set."""
  out = ml_collections.ConfigDict(config.to_dict())
  def apply(target, source):
    for key, value in source.items():
      if hasattr(value, 'items') and key in target and hasattr(target[key], 'items'):
        apply(target[key], value)
      else:
        target[key] = value
  apply(out, overrides)
  return out


def model_config(config, spec):
  """config.model for a `suite.models` entry 'name' or 'name:backbone'."""
  name, _, backbone = spec.partition(':')
  model = {'name': name, 'dtype': config.model.dtype, 'pretrained': ''}
  if backbone:
    model.update(backbone=backbone, output_stride=config.model.get('output_stride', 8))
  return ml_collections.ConfigDict(model)


def _setup(config, spec):
  """(config, model, tx, state, mesh) of one model at config.train's largest crop."""
  c = ml_collections.ConfigDict(config.to_dict())
  c.model = model_config(config, spec)
  mesh = sharding.make_mesh()
  model = models.from_config(c.model, config.suite.num_classes)
  tx = optim.sgd_direction(c.train.momentum, c.train.weight_decay)
  state = train_state.create_train_state(model, tx, jax.random.key(c.seed), mesh)
  return c, model, tx, state, mesh


def _bucket(config):
  crop = max(config.train.crop_sizes)
  return schedules.EpochPlan(crop, config.train.batch_size, 1)


# --- The parts ----------------------------------------------------------------

def part_step(config):
  """Per model: compile and time the trainer's step at the largest crop."""
  rows = {}
  for spec in config.suite.models:
    c, model, tx, state, mesh = _setup(config, spec)
    (rows[spec],), _, _ = crop_schedules.time_buckets(
        c, model, tx, state, config.suite.num_classes, [_bucket(c)], mesh, total_images=10**6)
    logging.info('%s: step %.4f s, MFU %s', spec, rows[spec]['step_seconds'], rows[spec]['mfu'])
  return rows


def part_profile(config, workdir):
  """A trace of `suite.profile_steps` steps of the first model, reduced to its top ops."""
  c, model, tx, state, mesh = _setup(config, config.suite.models[0])
  bucket = _bucket(c)
  step_fn = train.make_step_fn(c, model, tx, mesh)
  compiled = train.compile_buckets(step_fn, state, [bucket], mesh)[bucket.crop].result()
  batch = timing.random_batch(bucket.batch_size, bucket.crop, config.suite.num_classes, mesh)
  horizon = sharding.to_replicated(np.int32(10**6), mesh)
  for _ in range(2):  # warm-up outside the trace
    state, metrics = compiled(state, batch, horizon)
  jax.block_until_ready(metrics)
  trace_dir = os.path.join(workdir, 'profile')
  with jax.profiler.trace(trace_dir):
    for _ in range(config.suite.profile_steps):
      state, metrics = compiled(state, batch, horizon)
    jax.block_until_ready(metrics)
  ops = hlo_ops(compiled.as_text())
  times = op_device_times(_newest_xspace(trace_dir))
  return {'model': config.suite.models[0], 'steps': config.suite.profile_steps,
          **top_ops(times, ops, config.suite.profile_top)}


def part_schedules(config, deadline):
  """Buckets compiled one at a time until `deadline`; predicted speedups if all made it."""
  c = with_overrides(config, {'train': {'crop_sizes': tuple(config.suite.schedule_crops)}})
  c, model, tx, state, mesh = _setup(c, config.suite.models[0])
  plans = {name: schedules.make_plan(with_overrides(c, {'train': {'schedule': name}}).train,
                                     config.suite.schedule_epoch_items, jax.device_count())
           for name in ('constant', 'coarse2fine+')}
  buckets = {p.crop: p for plan in plans.values() for p in plan}
  rows = []
  for crop in sorted(buckets, reverse=True):  # the constant crop first
    if time.time() > deadline:
      break
    more, _, state = crop_schedules.time_buckets(c, model, tx, state, config.suite.num_classes,
                                                 [buckets[crop]], mesh, total_images=10**6)
    rows += more
  step_seconds = {r['crop']: r['step_seconds'] for r in rows}
  missing = sorted(set(buckets) - set(step_seconds))
  if missing and len(rows) >= 2:  # the deadline came first: a line through the timed ones
    step_seconds.update(fit_step_seconds(rows, [buckets[c] for c in missing]))
  totals = {name: crop_schedules.schedule_totals(
      plan, step_seconds if set(step_seconds) >= {p.crop for p in plan} else None)
            for name, plan in plans.items()}
  return {'buckets': rows, 'crops_timed': sorted(r['crop'] for r in rows),
          'crops_predicted_by_fit': missing if len(rows) >= 2 else [],
          'crops_wanted': sorted(buckets), 'speedups': crop_schedules.speedups(totals)}


def fit_step_seconds(rows, buckets):
  """{crop: seconds} of untimed buckets from a least-squares line in pixels per step
  (fixed cost + per-pixel cost) through the timed `rows`."""
  pixels = np.array([r['batch_size'] * r['crop'] ** 2 for r in rows], np.float64)
  seconds = np.array([r['step_seconds'] for r in rows], np.float64)
  slope, intercept = np.polyfit(pixels, seconds, 1)
  return {b.crop: float(intercept + slope * b.batch_size * b.crop ** 2) for b in buckets}


def part_inference(config):
  """Images/s per device of the labelling recipe, random weights."""
  recipe = inference.InferenceConfig.from_config(config.pseudo_label.inference)
  model = model_config(config, config.suite.models[0])
  options = {k: v for k, v in model.items() if k not in ('name', 'pretrained')}
  height, width = config.suite.inference_size
  rate = inference_bench.benchmark(model.name, height, width, recipe,
                                   num_classes=config.suite.num_classes,
                                   num_images=config.suite.inference_images, **options)
  return {'model': config.suite.models[0], 'height': height, 'width': width,
          'recipe': {'scales': list(recipe.scales), 'flip': recipe.flip,
                     'tile_size': recipe.tile_size and list(recipe.tile_size)},
          'images_per_sec_per_device': rate}


# --- The profile's reduction (pure) -------------------------------------------

_INSTRUCTION = re.compile(r'^\s*(?:ROOT\s+)?%?(?P<name>[\w.\-]+) = .*? (?P<op>[a-z][\w\-]*)\(')
_OP_NAME = re.compile(r'op_name="([^"]*)"')
_TARGET = re.compile(r'custom_call_target="([^"]*)"')
_COLLECTIVES = ('all-reduce', 'all-gather', 'reduce-scatter', 'collective-permute', 'all-to-all')


def hlo_ops(hlo_text):
  """{instruction name: (opcode, op_name metadata, custom-call target)} of an HLO module."""
  ops = {}
  for line in hlo_text.splitlines():
    m = _INSTRUCTION.match(line)
    if m:
      op_name, target = _OP_NAME.search(line), _TARGET.search(line)
      ops[m.group('name')] = (m.group('op'), op_name.group(1) if op_name else '',
                              target.group(1) if target else '')
  return ops


def category(opcode, op_name, target=''):
  """What an op does, from its opcode, a library call's name, and the jax/flax name
  stack it came from ('jit(train_step)/jvp(FastSCNN)/DSConv_0/ConvBN_0/BatchNorm_0/sub';
  resizes, the loss and OHEM carry named scopes of their own)."""
  path = op_name.lower()
  scopes, primitive = path.split('/')[:-1], path.rsplit('/', 1)[-1]
  if opcode.startswith(_COLLECTIVES):
    return 'collective'
  if opcode == 'convolution' or 'conv' in target.lower() or 'conv_general_dilated' in primitive:
    return 'convolution'
  if opcode == 'sort' or 'ohem' in scopes or 'sort' in primitive:
    return 'ohem_selection'
  if opcode in ('copy', 'transpose', 'copy-start', 'copy-done'):
    return 'copy_transpose'
  if any('batchnorm' in s or 'batch_norm' in s for s in scopes):
    return 'batch_norm'
  if 'resize' in scopes:
    return 'resize'
  if 'loss' in scopes:
    return 'loss'
  if 'dot_general' in primitive and scopes and scopes[-1].startswith('conv'):
    return 'convolution'  # a 1x1 convolution as a matrix product
  if not re.search(r'jvp\(\w+\)', path):
    return 'optimizer_and_other'  # outside the network: the update, metrics
  return 'elementwise_other'


def op_device_times(xspace_path):
  """{hlo op name: summed duration in ns} from a trace: a device's 'XLA Ops' line
  where there is one (GPUs), else every event tagged with an hlo_op (CPUs)."""
  data = jax.profiler.ProfileData.from_file(xspace_path)
  times = {}
  for plane in data.planes:
    lines = list(plane.lines)
    xla_ops = [l for l in lines if l.name == 'XLA Ops']
    for line in xla_ops or lines:
      for event in line.events:
        stats = dict(event.stats)
        op = stats.get('hlo_op') or (event.name if xla_ops else None)
        if op:
          times[op] = times.get(op, 0.0) + event.duration_ns
  return times


def top_ops(times, ops, top):
  """The `top` ops by device time with their category and share, and the share per category."""
  total = sum(times.values()) or 1.0
  by_category = {}
  for name, ns in times.items():
    cat = category(*ops.get(name, (name, '', '')))
    by_category[cat] = by_category.get(cat, 0.0) + ns
  rows = []
  for name, ns in sorted(times.items(), key=lambda kv: -kv[1])[:top]:
    opcode, op_name, target = ops.get(name, (name, '', ''))
    rows.append({'op': name, 'category': category(opcode, op_name, target), 'ms': ns / 1e6,
                 'share': ns / total, 'opcode': opcode, 'op_name': op_name[-160:]})
  return {'device_ms': total / 1e6, 'top_ops': rows,
          'categories': {k: {'ms': v / 1e6, 'share': v / total}
                         for k, v in sorted(by_category.items(), key=lambda kv: -kv[1])}}


def _newest_xspace(trace_dir):
  found = [os.path.join(root, f) for root, _, files in os.walk(trace_dir) for f in files
           if f.endswith('.xplane.pb')]
  if not found:
    raise FileNotFoundError(f'no .xplane.pb trace under {trace_dir}')
  return max(found, key=os.path.getmtime)


# --- Running the parts ---------------------------------------------------------

def device_info():
  """The device, driver, versions and XLA flags the figures belong to."""
  device = jax.devices()[0]
  info = {'platform': device.platform, 'device_kind': device.device_kind,
          'device_count': jax.device_count(), 'process_count': jax.process_count(),
          'jax': jax.__version__, 'jaxlib': jaxlib.__version__,
          'xla_flags': os.environ.get('XLA_FLAGS', ''),
          'peak_bf16_flops': timing.peak_flops(device.device_kind)}
  if device.platform == 'gpu':
    try:
      info['driver'] = subprocess.run(
          ['nvidia-smi', '--query-gpu=driver_version,name,memory.total', '--format=csv,noheader'],
          capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
      info['driver'] = None
  return info


def run_part(part, config, workdir):
  """One part in this process; writes W/parts/<part>.json."""
  deadline = time.time() + config.suite.part_seconds[part]
  if part == 'step':
    result = part_step(config)
  elif part == 'profile':
    result = part_profile(config, workdir)
  elif part == 'schedules':
    result = part_schedules(config, deadline - config.suite.schedule_margin_seconds)
  else:
    result = part_inference(config)
  workdir_lib.write_json(os.path.join(workdir, 'parts', f'{part}.json'),
                         {'device': device_info(), 'result': result}, indent=1)
  return result


def run(config, workdir, smoke=False):
  """Each part in a child process under its cap; W/suite.json after every part."""
  os.makedirs(os.path.join(workdir, 'parts'), exist_ok=True)
  suite = {'config': 'smoke' if smoke else 'full', 'device': None, 'parts': {}, 'status': {}}
  for part in config.suite.parts:
    start = time.time()
    status = _child(part, workdir, smoke, config.suite.part_seconds[part])
    path = os.path.join(workdir, 'parts', f'{part}.json')
    if status == 'done' and os.path.exists(path):
      with open(path) as f:
        saved = json.load(f)
      suite['device'], suite['parts'][part] = saved['device'], saved['result']
    suite['status'][part] = {'outcome': status, 'seconds': time.time() - start}
    workdir_lib.write_json(os.path.join(workdir, 'suite.json'), suite, indent=1)
    logging.info('part %s: %s in %.0f s', part, status, time.time() - start)
  return suite


def _child(part, workdir, smoke, seconds):
  """'done', 'timeout after N s' or 'failed: <last line>' of one part's process."""
  argv = [a for a in sys.argv[1:] if not a.startswith('--part=')]
  cmd = [sys.executable, '-m', 'stseg_jax.bench.suite', *argv, f'--part={part}']
  env = dict(os.environ)
  env.setdefault('JAX_COMPILATION_CACHE_DIR', os.path.join(os.path.abspath(workdir), 'xla_cache'))
  proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, start_new_session=True,
                          env=env)
  try:
    _, err = proc.communicate(timeout=seconds)
  except subprocess.TimeoutExpired:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    return f'timeout after {seconds} s'
  if proc.returncode:
    lines = [l for l in err.splitlines() if l.strip()]
    return f'failed: {lines[-1] if lines else proc.returncode}'
  return 'done'


def main(config, workdir):
  smoke = flags.FLAGS.smoke
  if smoke:
    config = with_overrides(config, config.suite.smoke)
  config_check.validate(config)
  if flags.FLAGS.part:
    return run_part(flags.FLAGS.part, config, workdir)
  suite = run(config, workdir, smoke)
  failed = {p: s['outcome'] for p, s in suite['status'].items() if s['outcome'] != 'done'}
  print(json.dumps({p: s['outcome'] for p, s in suite['status'].items()}), flush=True)
  if failed:  # exit 1: the figures are not complete
    raise errors.ConfigError(f'config.suite.part_seconds: parts not done {failed}; the others '
                             f'are in {os.path.join(workdir, "suite.json")}')
  return suite


if __name__ == '__main__':
  flags.DEFINE_bool('smoke', False, 'tiny sizes (config.suite.smoke): every part on a CPU')
  flags.DEFINE_enum('part', None, PARTS, 'run this part alone, in this process')
  cli.run(main, 'Where suite.json, parts/ and profile/ go.')
