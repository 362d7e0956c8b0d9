"""Where the trainer's step spends its time, per XLA op: a jax.profiler trace, summarised.

  python -m stseg_jax.bench.step_profile --config=configs/bench_torch.py --workdir=/tmp/prof
  taskset -c 0 python -m stseg_jax.bench.step_profile ...   # each op's whole cost on one core

Compiles the trainer's step (`train.make_step_fn`) for each of `bench.crops`
at `bench.batch_size`, runs `bench.warmup_steps`, traces `bench.profile_steps`
steps into WORKDIR/trace_<crop> (open it in TensorBoard or Perfetto), and
joins the trace's op events with the compiled HLO's `op_name` metadata (the
flax module path and primitive that produced each op). Prints, per crop,
milliseconds per step by primitive and direction (forward, or backward for
ops autodiff made: a `custom_vjp`'s written-out backward counts as forward),
by module, and the top ops with their output shapes; writes
WORKDIR/step_profile.json.

On several cores a loop fusion splits over threads and its event spans the
split, while a library call (a GEMM) may return before its threads finish:
summed op times then undercount the step. Under `taskset -c 0` every op runs
on the one core and the sum is the step's work.
"""
import collections
import glob
import gzip
import json
import os
import re
import shutil

import jax
import numpy as np

from stseg_jax import cli
from stseg_jax import models
from stseg_jax import optim
from stseg_jax import schedules
from stseg_jax import sharding
from stseg_jax import train
from stseg_jax import train_state
from stseg_jax.bench import timing




def hlo_ops(hlo_text):
  """{instruction name: (output shape, op_name metadata)} of a compiled module."""
  ops = {}
  for line in hlo_text.splitlines():
    m = re.match(r'\s*(?:ROOT )?%([\w.\-]+) = (\S+) ', line)
    if m:
      op_name = re.search(r'op_name="([^"]*)"', line)
      ops[m.group(1)] = (m.group(2), op_name.group(1) if op_name else '')
  return ops


def op_seconds(trace_dir, ops, steps):
  """Seconds per step of each op in `ops`, summed over a trace's events."""
  path, = glob.glob(os.path.join(trace_dir, 'plugins', 'profile', '*', '*.trace.json.gz'))
  with gzip.open(path) as f:
    events = json.load(f)['traceEvents']
  seconds = collections.Counter()
  for e in events:
    if e.get('ph') == 'X' and e['name'] in ops:
      seconds[e['name']] += e['dur'] * 1e-6 / steps
  return seconds


def describe(op_name):
  """(direction, primitive, module path) of an op's `op_name` metadata."""
  parts = op_name.split('/')
  direction = 'backward' if 'transpose(' in op_name else 'forward'
  modules = [re.sub(r'^(transpose\()?jvp\((.*?)\)\)?$', r'\2', p) for p in parts[1:-1]]
  modules = [m for m in modules if m and not m.startswith('jit(')]
  return direction, parts[-1] if op_name else '(no metadata)', '/'.join(modules[:3])


def summarise(seconds, ops, top=40):
  by_primitive, by_module = collections.Counter(), collections.Counter()
  for name, s in seconds.items():
    direction, primitive, module = describe(ops[name][1])
    by_primitive[f'{direction} {primitive}'] += s
    by_module[module or '(step)'] += s
  ranked = seconds.most_common(top)
  return {
      'total_ms': 1e3 * sum(seconds.values()),
      'by_primitive_ms': {k: 1e3 * v for k, v in by_primitive.most_common()},
      'by_module_ms': {k: 1e3 * v for k, v in by_module.most_common()},
      'top_ops': [{'op': n, 'ms': 1e3 * s, 'shape': ops[n][0], 'op_name': ops[n][1]}
                  for n, s in ranked],
  }


def profile_crop(config, crop, mesh, workdir):
  b = config.bench
  model = models.from_config(config.model, b.num_classes)
  tx = optim.sgd_direction(config.train.momentum, config.train.weight_decay)
  state = train_state.create_train_state(model, tx, jax.random.key(config.seed), mesh)
  step = train.compile_buckets(train.make_step_fn(config, model, tx, mesh), state,
                               [schedules.EpochPlan(crop, b.batch_size, 1)], mesh)[crop].result()
  horizon = sharding.to_replicated(np.int32(10**6), mesh)
  batch = timing.random_batch(b.batch_size, crop, b.num_classes, mesh, seed=crop)
  for _ in range(b.warmup_steps):
    state, metrics = step(state, batch, horizon)
  jax.block_until_ready((state, metrics))
  trace_dir = os.path.join(workdir, f'trace_{crop}')
  shutil.rmtree(trace_dir, ignore_errors=True)
  jax.profiler.start_trace(trace_dir)
  for _ in range(b.profile_steps):
    state, metrics = step(state, batch, horizon)
    jax.block_until_ready((state, metrics))
  jax.profiler.stop_trace()
  ops = hlo_ops(step.as_text())
  return {'crop': crop, 'batch_size': b.batch_size, 'cpus_allowed': len(os.sched_getaffinity(0)),
          **summarise(op_seconds(trace_dir, ops, b.profile_steps), ops)}


def run(config, workdir):
  os.makedirs(workdir, exist_ok=True)
  mesh = sharding.make_mesh(jax.devices()[:1])
  rows = [profile_crop(config, crop, mesh, workdir) for crop in config.bench.crops]
  with open(os.path.join(workdir, 'step_profile.json'), 'w') as f:
    json.dump({'model': dict(config.model), 'rows': rows}, f, indent=2)
  for r in rows:
    print(report(r), flush=True)
  return rows


def report(row, lines_per_table=12):
  out = [f"{row['crop']} x {row['batch_size']}: {row['total_ms']:.1f} ms of ops per step "
         f"on {row['cpus_allowed']} core(s)", '', '| ms/step | primitive |', '|---|---|']
  out += [f'| {v:.1f} | {k} |' for k, v in list(row['by_primitive_ms'].items())[:lines_per_table]]
  out += ['', '| ms/step | module |', '|---|---|']
  out += [f'| {v:.1f} | {k} |' for k, v in list(row['by_module_ms'].items())[:lines_per_table]]
  out += ['', '| ms/step | op | shape | from |', '|---|---|---|---|']
  out += [f"| {o['ms']:.1f} | {o['op']} | {o['shape']} | {o['op_name'][-70:]} |"
          for o in row['top_ops']]
  return '\n'.join(out)


if __name__ == '__main__':
  cli.run(run, 'Where the traces and step_profile.json go.')
