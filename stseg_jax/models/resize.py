"""Bilinear resizing and adaptive average pooling of NHWC arrays, as torch's."""
import functools

import jax
import jax.numpy as jnp
import numpy as np


@jax.named_scope('resize')  # profiles (bench/suite.py) tell resizes apart by this name
def bilinear(x, size):
  """Bilinear NHWC resize to `size`, as torch's align_corners=False."""
  for axis, out in ((1, size[0]), (2, size[1])):
    if out == x.shape[axis]:
      continue
    if out % x.shape[axis] == 0:
      x = _upsample_axis(x, axis, out // x.shape[axis])
    else:
      # jax.image.resize samples at half-pixel centres, as torch does with
      # align_corners=False; antialias=False keeps downsampling a plain 2-tap
      # interpolation (torch's behaviour) rather than a box-filtered one. It
      # contracts with a dense (out, in) matrix: fine for the odd ratios left.
      shape = list(x.shape)
      shape[axis] = out
      x = jax.image.resize(x, shape, 'bilinear', antialias=False)
  return x


def _phase_weights(factor):
  """Per output phase r, the weights of rows k-1, k, k+1 (see _upsample_axis)."""
  d = (np.arange(factor) + 0.5) / factor - 0.5
  return np.maximum(-d, 0), 1 - np.abs(d), np.maximum(d, 0)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2))
def _upsample_axis(x, axis, factor):
  """Bilinear upsampling by an integer `factor` along `axis`, as torch's.

  Output row f*k + r lies at source position k + d_r, d_r = (r + 0.5) / f - 0.5,
  so it blends row k with row k - 1 (d_r < 0) or k + 1 (d_r > 0) by fixed
  weights: shifted views of the edge-padded input, weighted per phase r and
  interleaved. A few FLOPs per output where a dense interpolation matrix
  costs one multiply-add per input row. Edge padding reproduces torch's
  clamping at both borders.
  """
  n = x.shape[axis]
  pad = [(0, 0)] * x.ndim
  pad[axis] = (1, 1)
  xp = jnp.pad(x, pad, mode='edge')
  prev, cur, nxt = (jax.lax.slice_in_dim(xp, s, s + n, axis=axis) for s in range(3))
  weight_shape = [1] * (x.ndim + 1)
  weight_shape[axis + 1] = factor
  out = 0
  for view, weights in zip((prev, cur, nxt), _phase_weights(factor)):
    out = out + jnp.expand_dims(view, axis + 1) * weights.reshape(weight_shape).astype(x.dtype)
  shape = list(x.shape)
  shape[axis] = n * factor
  return out.reshape(shape)


def _upsample_axis_fwd(x, axis, factor):
  return _upsample_axis(x, axis, factor), None


def _upsample_axis_bwd(axis, factor, _, g):
  # One pass over the large output gradient: per input row, its weighted sums
  # for the row itself and for the rows above and below (one variadic reduce
  # over the phase axis), then cheap shifts at input resolution.
  shape, dtype = list(g.shape), g.dtype
  n = shape[axis] // factor
  g = g.reshape(shape[:axis] + [n, factor] + shape[axis + 1:]).astype(jnp.float32)
  weight_shape = [1] * g.ndim
  weight_shape[axis + 1] = factor
  zero = jnp.zeros((), jnp.float32)
  to_prev, to_cur, to_next = jax.lax.reduce(
      [g * w.reshape(weight_shape).astype(jnp.float32) for w in _phase_weights(factor)],
      [zero] * 3, lambda a, b: [x + y for x, y in zip(a, b)], (axis + 1,))
  # Row k-1 receives to_prev[k], row k+1 to_next[k]; what falls off an end
  # belongs to the border row (edge clamping).
  def place(part, start, stop, at):
    widths = [(0, 0)] * part.ndim
    widths[axis] = (at, n - at - (stop - start))
    return jnp.pad(jax.lax.slice_in_dim(part, start, stop, axis=axis), widths)

  dx = (to_cur + place(to_prev, 1, n, 0) + place(to_next, 0, n - 1, 1)
        + place(to_prev, 0, 1, 0) + place(to_next, n - 1, n, n - 1))
  return (dx.astype(dtype),)


_upsample_axis.defvjp(_upsample_axis_fwd, _upsample_axis_bwd)


def _pool_matrix(size, bins):
  """(bins, size) averaging matrix with torch AdaptiveAvgPool windows."""
  m = np.zeros((bins, size), np.float32)
  for i in range(bins):
    start, end = (i * size) // bins, -(-(i + 1) * size // bins)  # floor, ceil
    m[i, start:end] = 1.0 / (end - start)
  return m


def adaptive_avg_pool(x, bins):
  """Averages NHWC `x` to (bins, bins) cells, as torch AdaptiveAvgPool2d."""
  # Windows may overlap when H is not a multiple of `bins`, so pooling is two
  # small matrix products rather than a reshape-and-mean. Weights like 1/3
  # stay float32: in bfloat16 they would bias every average.
  ph = _pool_matrix(x.shape[1], bins)
  pw = _pool_matrix(x.shape[2], bins)
  y = jnp.einsum('ih,nhwc,jw->nijc', ph, x.astype(jnp.float32), pw)
  return y.astype(x.dtype)
