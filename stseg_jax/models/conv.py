"""Convolutions in the forms XLA:CPU runs fast, with the parameters of nn.Conv.

DepthwiseConv: k*k shifted products with a written-out backward, where XLA's
grouped convolution loops over channels. PointwiseConv: a 1x1 convolution as
a matrix product whose kernel gradient is a row-major GEMM. StemConv: the
3x3 stride-2 convolution of an RGB image as a 2x2 one of 2x2 pixel blocks.
Each keeps nn.Conv's parameter name, shape and initialiser, so checkpoints
and the torch converters do not see a difference; on accelerators they cost
what a library convolution does.
"""
import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from stseg_jax.models import batch_norm


def _taps(x, k, s, d, out_hw):
  """The k*k strided views of padded NHWC `x` that a depthwise conv multiplies."""
  n, _, _, c = x.shape
  h_out, w_out = out_hw
  return [jax.lax.slice(x, (0, i * d, j * d, 0),
                        (n, i * d + s * (h_out - 1) + 1, j * d + s * (w_out - 1) + 1, c),
                        (1, s, s, 1))
          for i in range(k) for j in range(k)]


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def depthwise_conv(x, kernel, strides, dilation):
  """'Same'-padded depthwise conv of NHWC `x` with a (k, k, 1, C) kernel."""
  return _depthwise_fwd(x, kernel, strides, dilation)[0]


def _depthwise_fwd(x, kernel, s, d):
  k = kernel.shape[0]
  pad = d * (k // 2)
  xp = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
  out_hw = tuple((size + 2 * pad - d * (k - 1) - 1) // s + 1 for size in x.shape[1:3])
  taps = _taps(xp, k, s, d, out_hw)
  out = functools.reduce(jnp.add, [t * w for t, w in zip(taps, kernel.reshape(k * k, -1))])
  return out, (xp, kernel, x.shape)


def _depthwise_bwd(s, d, residuals, g):
  # Written out rather than left to autodiff: XLA's sharded transpose of the
  # strided slices gave wrong input gradients with one example per device.
  xp, kernel, x_shape = residuals
  k = kernel.shape[0]
  pad = d * (k // 2)
  taps = _taps(xp, k, s, d, g.shape[1:3])
  # All k*k kernel sums in one pass: the products fuse into the reduction,
  # so no tap is stored (as k*k einsums, each tap was materialised first).
  products = [t.astype(jnp.float32) * g.astype(jnp.float32) for t in taps]
  dkernel = jnp.stack(batch_norm.channel_sums(products))
  # Input gradient: spread g back with stride s, then correlate with the
  # flipped kernel (a stride-1 depthwise conv of the dilated g).
  g_dil = jax.lax.pad(g, jnp.zeros((), g.dtype),
                      ((0, 0, 0), (0, 0, s - 1), (0, 0, s - 1), (0, 0, 0)))
  hp, wp = xp.shape[1:3]
  extra_h = hp - (d * (k - 1) + g_dil.shape[1])
  extra_w = wp - (d * (k - 1) + g_dil.shape[2])
  reach = d * (k - 1)
  g_full = jnp.pad(g_dil, ((0, 0), (reach, reach + extra_h), (reach, reach + extra_w), (0, 0)))
  flipped = kernel[::-1, ::-1].reshape(k * k, -1)
  dxp = functools.reduce(jnp.add, [t * w for t, w in zip(_taps(g_full, k, 1, d, (hp, wp)), flipped)])
  dx = dxp[:, pad:pad + x_shape[1], pad:pad + x_shape[2], :]
  return dx, dkernel.reshape(kernel.shape).astype(kernel.dtype)


depthwise_conv.defvjp(_depthwise_fwd, _depthwise_bwd)


class DepthwiseConv(nn.Module):
  """Depthwise k x k convolution (no bias) as a sum of k*k shifted products.

  XLA's CPU backend runs `feature_group_count == channels` convolutions about
  25x slower forward and 5x slower in the kernel gradient than this form; on
  GPU both fuse into one kernel. Same parameter as nn.Conv with groups = C:
  'kernel' of shape (k, k, 1, C), so checkpoints and converters don't care.
  """
  kernel_size: int = 3
  strides: int = 1
  dilation: int = 1
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    k = self.kernel_size
    kernel = self.param('kernel', nn.initializers.lecun_normal(), (k, k, 1, x.shape[-1]),
                        jnp.float32)
    return depthwise_conv(x.astype(self.dtype), kernel.astype(self.dtype), self.strides,
                          self.dilation)


@jax.custom_vjp
def channel_matmul(x, w):
  """x @ w over the last axis of NHWC `x`, with a backward XLA:CPU runs as plain GEMMs."""
  return jnp.dot(x, w)


def _channel_matmul_fwd(x, w):
  return jnp.dot(x, w), (x, w)


def _channel_matmul_bwd(residuals, g):
  # The kernel gradient contracts the N*H*W rows of x and g. Left to XLA,
  # it transposes the wider of the two (the output gradient, fused into the
  # BatchNorm backward that makes it) and multiplies both transposed, at a
  # third of the GEMM's speed. Transposing the narrower one ourselves, behind
  # an optimisation barrier so XLA cannot fold it back, leaves a row-major
  # GEMM (the step: 20% faster).
  x, w = residuals
  rows_x, rows_g = x.reshape(-1, x.shape[-1]), g.reshape(-1, g.shape[-1])
  if rows_x.shape[1] <= rows_g.shape[1]:
    dw = jnp.dot(jax.lax.optimization_barrier(rows_x.T), rows_g)
  else:
    dw = jnp.dot(jax.lax.optimization_barrier(rows_g.T), rows_x).T
  return jnp.dot(g, w.T), dw


channel_matmul.defvjp(_channel_matmul_fwd, _channel_matmul_bwd)


class PointwiseConv(nn.Module):
  """1x1 convolution (stride s: of every s-th pixel) as a matrix product over channels.

  Same parameters as nn.Conv (1, 1) with padding 0: 'kernel' of shape
  (1, 1, Cin, Cout) and an optional 'bias'. As a convolution, XLA:CPU
  transposes both operands of the kernel gradient into a batch-as-feature
  layout first; as `channel_matmul` it is one GEMM over the N*H*W rows.
  """
  features: int
  strides: int = 1
  use_bias: bool = False
  kernel_init: Any = nn.initializers.lecun_normal()  # nn.Conv's default
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    kernel = self.param('kernel', self.kernel_init, (1, 1, x.shape[-1], self.features),
                        jnp.float32)
    x = x[:, ::self.strides, ::self.strides].astype(self.dtype)
    y = channel_matmul(x, kernel[0, 0].astype(self.dtype))
    if self.use_bias:
      y = y + self.param('bias', nn.initializers.zeros, (self.features,),
                         jnp.float32).astype(self.dtype)
    return y


def _conv_3x3_s2(x, kernel):
  return jax.lax.conv_general_dilated(x, kernel, (2, 2), [(1, 1), (1, 1)],
                                      dimension_numbers=('NHWC', 'HWIO', 'NHWC'))


# Which 3x3 tap a (2x2 block, row or column within it) pair holds: output i
# reads input rows 2i-1, 2i, 2i+1, i.e. the second row of block i-1 and both
# rows of block i.
_BLOCK_TAPS = {(0, 1): 0, (1, 0): 1, (1, 1): 2}


@jax.custom_vjp
def conv_3x3_stride2(x, kernel):
  """torch's Conv2d(3, stride=2, padding=1) of NHWC `x` with even H and W.

  Computed as a 2x2 convolution of the space-to-depth input (2x2 pixel
  blocks as 4*C channels): XLA:CPU runs a 3-channel input's convolution on
  one thread at about 12 GFLOP/s, the 12-channel one 3x faster. The kernel
  gradient is XLA's own convolution's (cheaper than through the blocks).
  """
  return _conv_3x3_s2_blocks(x, kernel)


def _conv_3x3_s2_blocks(x, kernel):
  n, h, w, c = x.shape
  blocks = x.reshape(n, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 2, 4, 5)
  blocks = blocks.reshape(n, h // 2, w // 2, 4 * c)
  k = jnp.zeros((2, 2, 2, 2) + kernel.shape[2:], kernel.dtype)
  for (bi, a), ti in _BLOCK_TAPS.items():
    for (bj, b), tj in _BLOCK_TAPS.items():
      k = k.at[bi, bj, a, b].set(kernel[ti, tj])
  return jax.lax.conv_general_dilated(blocks, k.reshape(2, 2, 4 * c, -1), (1, 1),
                                      [(1, 0), (1, 0)],
                                      dimension_numbers=('NHWC', 'HWIO', 'NHWC'))


def _conv_3x3_s2_fwd(x, kernel):
  return _conv_3x3_s2_blocks(x, kernel), (x, kernel)


def _conv_3x3_s2_bwd(residuals, g):
  x, kernel = residuals
  return jax.vjp(_conv_3x3_s2, x, kernel)[1](g)


conv_3x3_stride2.defvjp(_conv_3x3_s2_fwd, _conv_3x3_s2_bwd)


class StemConv(nn.Module):
  """3x3 stride-2 bias-free convolution, nn.Conv's parameter; see conv_3x3_stride2."""
  features: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    kernel = self.param('kernel', nn.initializers.lecun_normal(),
                        (3, 3, x.shape[-1], self.features), jnp.float32)
    return conv_3x3_stride2(x.astype(self.dtype), kernel.astype(self.dtype))
