"""Timing tools of the benchmarks: random batches, median step times, FLOPs, MFU, memory.

Shared by crop_schedules.py, step_profile.py and torch_peer.py, with
`plain_step`, the bare network's train step in plain jax, which shows what
the trainer adds around it.
"""
import statistics
import time

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np
import optax

from stseg_jax import losses
from stseg_jax import models
from stseg_jax import sharding

# Dense bf16 peak FLOP/s of one device, by the first substring of
# `device_kind` that matches (specific names first: an H100 PCIe is not an
# SXM). MFU is reported against it whatever the compute dtype, as usual.
PEAK_BF16_FLOPS = (
    ('H100 PCIe', 756e12),
    ('H100', 989e12),
    ('H200', 989e12),
    ('A100', 312e12),
    ('TPU v4', 275e12),
    ('TPU v5 lite', 197e12),  # what a v5e reports
    ('TPU v5e', 197e12),
)


def peak_flops(device_kind):
  """The device's dense bf16 peak FLOP/s, or None when unknown (e.g. CPUs)."""
  for name, peak in PEAK_BF16_FLOPS:
    if name.lower() in device_kind.lower():
      return peak
  return None


def mfu(flops_per_device, seconds, device_kind):
  """Model FLOPs utilization of one device, or None without a known peak."""
  peak = peak_flops(device_kind)
  return None if peak is None else flops_per_device / seconds / peak


def random_batch(batch_size, crop, num_classes, mesh, seed=0):
  """A global uint8 batch on the devices, split over the mesh like real ones."""
  rng = np.random.default_rng(seed)
  local = batch_size // jax.process_count()
  return sharding.to_global(
      {'image': rng.integers(0, 256, (local, crop, crop, 3), dtype=np.uint8),
       'label': rng.integers(0, num_classes, (local, crop, crop), dtype=np.uint8),
       'second': np.zeros((local,), np.uint8)}, mesh)


def time_steps(step, carry, batch, warmup, steps):
  """Median seconds of `carry = step(carry, batch)[0]`, after `warmup` calls.

  Blocks on every output each call, so a call's time is its own.
  """
  times = []
  for _ in range(warmup + steps):
    start = time.perf_counter()
    carry, metrics = step(carry, batch)
    jax.block_until_ready((carry, metrics))
    times.append(time.perf_counter() - start)
  return statistics.median(times[warmup:]), times[warmup:], carry


def flops(stage):
  """FLOPs from XLA's cost analysis of a lowered or compiled computation.

  jax 0.10 returns a dict; older versions a list with one dict per module.
  A compiled SPMD module is one device's share of the step; a lowered one,
  not yet partitioned or optimised, the whole step.
  """
  cost = stage.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  value = (cost or {}).get('flops')
  return float(value) if value is not None and value > 0 else None


def memory(compiled):
  """Bytes the compiled step needs per device (XLA's memory analysis), and the
  device's peak so far where it reports one (GPUs, TPUs)."""
  out = {'temp_bytes': None, 'argument_bytes': None, 'peak_bytes_in_use': None}
  analysis = compiled.memory_analysis()
  if analysis is not None:
    out['temp_bytes'] = analysis.temp_size_in_bytes
    out['argument_bytes'] = analysis.argument_size_in_bytes
  stats = jax.local_devices()[0].memory_stats() or {}
  out['peak_bytes_in_use'] = stats.get('peak_bytes_in_use')
  return out


def rates(compiled, model_flops_per_step, seconds, batch_size):
  """Rates from the model's FLOPs; the compiled step's count goes beside them.

  The compiled count is what XLA's cost model sees in the optimised step;
  where it falls far below the model's, the device runs library calls that
  XLA cannot see into (GPUs).
  """
  per_device, n = flops(compiled), jax.device_count()
  compiled_per_step = None if per_device is None else per_device * n
  per_step = model_flops_per_step
  if per_step and compiled_per_step and not 0.5 < compiled_per_step / per_step < 2:
    logging.warning('compiled step counts %.3g FLOPs, the model %.3g: MFU uses the model\'s',
                    compiled_per_step, per_step)
  return {'images_per_sec': batch_size / seconds,
          'flops_per_step': per_step, 'flops_per_step_compiled': compiled_per_step,
          'gflops_per_sec': None if per_step is None else per_step / seconds / 1e9,
          'mfu': None if per_step is None else mfu(per_step / n, seconds,
                                                  jax.devices()[0].device_kind)}


def plain_step(carry, batch, *, model, tx, aux_weight, dropout_rng):
  """Forward, backward and SGD update of the bare network: no trainer around it."""
  params, batch_stats, opt_state = carry
  images = models.normalize(batch['image'], model.dtype)
  labels = batch['label'].astype(jnp.int32)

  def loss_fn(params):
    outputs, new_vars = model.apply({'params': params, 'batch_stats': batch_stats}, images,
                                    train=True, mutable=['batch_stats'],
                                    rngs={'dropout': dropout_rng})
    # The trainer's loss function, so the two steps differ in what the
    # trainer adds around the network (LR, metrics, checks), not in the loss.
    ce = lambda logits: losses.cross_entropy(logits, labels)
    loss = ce(outputs['logits'])
    if outputs.get('aux_logits') is not None:
      loss = loss + aux_weight * ce(outputs['aux_logits'])
    return loss, new_vars['batch_stats']

  (loss, batch_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
  updates, opt_state = tx.update(grads, opt_state, params)
  return (optax.apply_updates(params, updates), batch_stats, opt_state), loss
