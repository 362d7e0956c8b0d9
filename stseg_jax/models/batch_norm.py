"""The project's BatchNorm: flax's parameters and statistics, a hand-written backward.

Same variables as `flax.linen.BatchNorm` (params `scale`, `bias`; batch_stats
`mean`, `var`, biased, momentum 0.9 = torch's 0.1), the same two-pass
statistics in float32, so checkpoints and the torch converters are unchanged.

What differs is the training-mode gradient, written out as torch's fused
kernel computes it,

  dx = scale * rsqrt(var + eps) / M * (M * g - sum(g) - xhat * sum(g * xhat)),

with both sums in one pass over `g`. Autodiff of the two-pass statistics
instead walks back through each mean and the centring separately: this form
made Fast-SCNN's CPU train step 8% faster (benchmarks/README.md).

No axis_name: under `jax.jit` with the batch sharded over a mesh the sums
are over the global batch, so this is cross-replica BatchNorm.
"""
import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp


def channel_sums(values):
  """Per-channel sums of NHWC float32 arrays, all in one pass over them.

  One variadic reduction, along W first and then over N and H: XLA fuses the
  arrays' producers into it (nothing is stored), the first stage splits over
  rows between threads, and each partial sum stays short (an in-order sum of
  all N*H*W terms of both signs loses ~1e-3 relative accuracy).
  """
  zeros = [jnp.zeros((), jnp.float32)] * len(values)
  add = lambda a, b: [x + y for x, y in zip(a, b)]
  return jax.lax.reduce(jax.lax.reduce(values, zeros, add, (2,)), zeros, add, (0, 1))


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def normalize_batch(x, scale, bias, epsilon):
  """(y, mean, var): `x` normalised by its own per-channel statistics.

  The statistics are returned for the running averages only: their
  cotangents are taken to be zero (nothing differentiates through them).
  """
  return _normalize_fwd(x, scale, bias, epsilon)[0]


def _stats(x):
  m = x.size // x.shape[-1]
  mean = channel_sums([x])[0] / m
  var = channel_sums([jnp.square(x - mean)])[0] / m
  return mean, var


def _normalize_fwd(x, scale, bias, epsilon):
  x32 = x.astype(jnp.float32)
  mean, var = _stats(x32)
  inv = jax.lax.rsqrt(var + epsilon)
  y = ((x32 - mean) * (inv * scale) + bias).astype(x.dtype)
  return (y, mean, var), (x, mean, inv, scale)


def _normalize_bwd(epsilon, residuals, cotangents):
  del epsilon
  x, mean, inv, scale = residuals
  g = cotangents[0].astype(jnp.float32)
  xhat = (x.astype(jnp.float32) - mean) * inv
  dbias, dscale = channel_sums([g, g * xhat])
  m = x.size // x.shape[-1]
  dx = (scale * inv) * (g - (dbias + xhat * dscale) / m)
  return dx.astype(x.dtype), dscale, dbias


normalize_batch.defvjp(_normalize_fwd, _normalize_bwd)


class BatchNorm(nn.Module):
  """BatchNorm over the last axis; train mode uses and updates batch statistics."""
  use_running_average: bool = False
  momentum: float = 0.9
  epsilon: float = 1e-5
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    c = x.shape[-1]
    ra_mean = self.variable('batch_stats', 'mean', lambda: jnp.zeros((c,), jnp.float32))
    ra_var = self.variable('batch_stats', 'var', lambda: jnp.ones((c,), jnp.float32))
    scale = self.param('scale', nn.initializers.ones, (c,), jnp.float32)
    bias = self.param('bias', nn.initializers.zeros, (c,), jnp.float32)
    if self.use_running_average:
      inv = jax.lax.rsqrt(ra_var.value + self.epsilon)
      y = (x.astype(jnp.float32) - ra_mean.value) * (inv * scale) + bias
      return y.astype(self.dtype)
    y, mean, var = normalize_batch(x.astype(self.dtype), scale, bias, self.epsilon)
    if not self.is_initializing():
      ra_mean.value = self.momentum * ra_mean.value + (1 - self.momentum) * mean
      ra_var.value = self.momentum * ra_var.value + (1 - self.momentum) * var
    return y
