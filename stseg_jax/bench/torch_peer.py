"""The trainer's Fast-SCNN train step against the same network's step in PyTorch.

  python -m stseg_jax.bench.torch_peer --config=configs/bench_torch.py --workdir=/tmp/peer

Three steps on the same uint8 batch, timed in turns in one process so that a
busy or drifting machine slows all of them alike: the trainer's compiled step
(`train.make_step_fn`, as a training run builds it), the bare network's step
in plain JAX (`timing.plain_step`: the trainer's overhead is the gap),
and bench/torch_fast_scnn.py's step in PyTorch, in both memory layouts (NCHW
and channels_last; the faster is the peer). Same layers and parameter count
(checked here), SGD with momentum and weight decay, plain cross-entropy,
float32, batch `bench.batch_size`, each of `bench.crops`.

Per crop and step: the median of `bench.rounds` x `bench.steps_per_round`
calls after `bench.warmup_steps`; `speedup_over_torch` = the faster torch
step's median / the trainer's (> 1: the trainer is faster). Writes
WORKDIR/torch_peer.json and prints a table. Needs torch (requirements-torch.txt).
"""
import datetime
import functools
import json
import os
import platform
import statistics
import time

import jax
import numpy as np
import optax
import torch

from stseg_jax import cli
from stseg_jax import host_memory
from stseg_jax import models
from stseg_jax import optim
from stseg_jax import schedules
from stseg_jax import sharding
from stseg_jax import train
from stseg_jax import train_state
from stseg_jax.bench import timing
from stseg_jax.bench import torch_fast_scnn


def _jax_steps(config, num_classes, crop, mesh):
  """{name: (step function, carry)} for the trainer's and the plain JAX step."""
  model = models.from_config(config.model, num_classes)
  tx = optim.sgd_direction(config.train.momentum, config.train.weight_decay)
  state = train_state.create_train_state(model, tx, jax.random.key(config.seed), mesh)
  p = schedules.EpochPlan(crop, config.bench.batch_size, 1)
  trainer = train.compile_buckets(train.make_step_fn(config, model, tx, mesh), state, [p],
                                  mesh)[crop].result()
  horizon = sharding.to_replicated(np.int32(10**6), mesh)
  plain_tx = optax.sgd(config.train.base_lr, momentum=config.train.momentum)
  plain = jax.jit(functools.partial(
      timing.plain_step, model=model, tx=plain_tx, aux_weight=config.loss.aux_weight,
      dropout_rng=jax.random.key(config.seed)), donate_argnums=0)
  params = jax.tree.map(lambda x: x.copy(), state.params)  # the trainer donates its state
  plain_carry = (params, jax.tree.map(lambda x: x.copy(), state.batch_stats),
                 jax.jit(plain_tx.init)(params))
  return {'trainer': (lambda s, b: trainer(s, b, horizon), state),
          'plain_jax': (plain, plain_carry)}, models.param_count({'params': state.params})


def _torch_steps(config, num_classes):
  steps = {}
  for name, channels_last in (('torch_nchw', False), ('torch_channels_last', True)):
    torch.manual_seed(config.seed)
    net = torch_fast_scnn.FastSCNN(num_classes)
    steps[name] = torch_fast_scnn.make_train_step(
        net, config.train.base_lr, config.train.momentum, config.train.weight_decay,
        channels_last=channels_last)
  return steps, torch_fast_scnn.param_count(net)


def _minor_faults():
  """This process's minor page faults so far (Linux; 0 elsewhere)."""
  try:
    with open('/proc/self/stat') as f:
      return int(f.read().rsplit(')', 1)[1].split()[7])
  except OSError:
    return 0


def time_crop(config, num_classes, crop, mesh):
  """Median step seconds of every contender at one crop, timed in turns."""
  b = config.bench
  batch = timing.random_batch(b.batch_size, crop, num_classes, mesh, seed=crop)
  host = jax.device_get(batch)
  images, labels = (torch.from_numpy(np.array(host[k])) for k in ('image', 'label'))
  jax_steps, jax_params = _jax_steps(config, num_classes, crop, mesh)
  torch_steps, torch_params = _torch_steps(config, num_classes)
  if jax_params != torch_params:
    raise RuntimeError(f'not the same network: {jax_params} parameters in JAX, '
                       f'{torch_params} in torch')
  carries = {name: carry for name, (_, carry) in jax_steps.items()}

  def call(name):
    if name in jax_steps:
      carries[name], out = jax_steps[name][0](carries[name], batch)
      jax.block_until_ready((carries[name], out))
    else:
      torch_steps[name](images, labels)  # returns loss.item(): synchronous

  names = list(jax_steps) + list(torch_steps)
  for name in names:
    for _ in range(b.warmup_steps):
      call(name)
  times, faults = {name: [] for name in names}, {name: [] for name in names}
  for _ in range(b.rounds):
    for name in names:
      for _ in range(b.steps_per_round):
        start, start_faults = time.perf_counter(), _minor_faults()
        call(name)
        times[name].append(time.perf_counter() - start)
        faults[name].append(_minor_faults() - start_faults)
  medians = {name: statistics.median(t) for name, t in times.items()}
  torch_best = min(('torch_nchw', 'torch_channels_last'), key=medians.get)
  return {'crop': crop, 'batch_size': b.batch_size, 'parameters': jax_params,
          'median_seconds': medians, 'all_seconds': times, 'torch_peer': torch_best,
          # Page faults per call (host_memory.py): ~0 once the heap has grown.
          'median_page_faults': {name: statistics.median(f) for name, f in faults.items()},
          'all_page_faults': faults,
          'speedup_over_torch': medians[torch_best] / medians['trainer'],
          'trainer_overhead_percent': 100 * (medians['trainer'] / medians['plain_jax'] - 1)}


def run(config, workdir):
  if config.model.name != 'fast_scnn':
    raise ValueError(f'config.model.name: the torch peer is Fast-SCNN, not {config.model.name!r}')
  os.makedirs(workdir, exist_ok=True)
  threads = config.bench.torch_threads or os.cpu_count()
  torch.set_num_threads(threads)
  mesh = sharding.make_mesh(jax.devices()[:1])
  rows = [time_crop(config, config.bench.num_classes, crop, mesh) for crop in config.bench.crops]
  result = {
      'date': datetime.datetime.now().isoformat(timespec='seconds'),
      'machine': {'cpu_count': os.cpu_count(), 'processor': platform.processor(),
                  'jax_device': jax.devices()[0].device_kind},
      'versions': {'jax': jax.__version__, 'torch': torch.__version__},
      'torch_threads': threads, 'host_memory_kept': host_memory.applied,
      'rows': rows, 'config': json.loads(config.to_json_best_effort()),
  }
  with open(os.path.join(workdir, 'torch_peer.json'), 'w') as f:
    json.dump(result, f, indent=2)
  print(table(result), flush=True)
  return result


def table(result):
  lines = ['| crop x batch | trainer (s) | plain JAX (s) | torch NCHW (s) | torch channels_last (s) '
           '| speedup over torch | trainer overhead |', '|---|---|---|---|---|---|---|']
  for r in result['rows']:
    m = r['median_seconds']
    lines.append(f"| {r['crop']} x {r['batch_size']} | {m['trainer']:.4f} | {m['plain_jax']:.4f} "
                 f"| {m['torch_nchw']:.4f} | {m['torch_channels_last']:.4f} "
                 f"| {r['speedup_over_torch']:.2f}x | {r['trainer_overhead_percent']:+.1f}% |")
  return '\n'.join(lines)


if __name__ == '__main__':
  cli.run(run, 'Where torch_peer.json goes.')
