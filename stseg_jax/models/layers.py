"""Layers shared by the segmentation heads: conv-BN-ReLU, resizing, pooling."""

from typing import Any, Callable, Sequence

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from stseg_jax.models import batch_norm as batch_norm_lib
from stseg_jax.models import resnet
from stseg_jax.models import wideresnet38


def resize_bilinear(x, size):
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


def batch_norm(train, dtype, name=None):
  """The project's BatchNorm (torch momentum 0.1); one definition, in resnet.py."""
  return resnet.batch_norm(train, dtype, name)


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
  dkernel = jnp.stack(batch_norm_lib.channel_sums(products))
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


class PointwiseConv(nn.Module):
  """1x1 convolution as a matrix product over the channel axis.

  Same parameters as nn.Conv (1, 1): 'kernel' of shape (1, 1, Cin, Cout) and
  an optional 'bias', same initialisers. As a convolution, XLA:CPU transposes
  both operands of the kernel gradient into a batch-as-feature layout first;
  as a product the gradient is one GEMM over the N*H*W rows.
  """
  features: int
  use_bias: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    kernel = self.param('kernel', nn.initializers.lecun_normal(),
                        (1, 1, x.shape[-1], self.features), jnp.float32)
    y = jnp.dot(x.astype(self.dtype), kernel[0, 0].astype(self.dtype))
    if self.use_bias:
      y = y + self.param('bias', nn.initializers.zeros, (self.features,),
                         jnp.float32).astype(self.dtype)
    return y


class ConvBN(nn.Module):
  """Bias-free convolution, BatchNorm and an optional activation."""
  features: int
  kernel: int = 1
  strides: int = 1
  dilation: int = 1
  groups: int = 1
  shifted_depthwise: bool = True  # False: XLA's grouped conv (see DepthwiseConv)
  act: Callable[[Any], Any] | None = nn.relu
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    if (self.shifted_depthwise and self.groups > 1
        and self.groups == self.features == x.shape[-1]):
      x = DepthwiseConv(self.kernel, self.strides, self.dilation, self.dtype,
                        name='Conv_0')(x)
      x = batch_norm(train, self.dtype)(x)
      return x if self.act is None else self.act(x)
    if self.kernel == 1 and self.strides == 1 and self.groups == 1:
      x = PointwiseConv(self.features, dtype=self.dtype, name='Conv_0')(x)
      x = batch_norm(train, self.dtype)(x)
      return x if self.act is None else self.act(x)
    x = nn.Conv(self.features, (self.kernel, self.kernel),
                strides=self.strides, kernel_dilation=self.dilation,
                padding=[(self.dilation * (self.kernel // 2),) * 2] * 2,
                feature_group_count=self.groups, use_bias=False,
                dtype=self.dtype, param_dtype=jnp.float32)(x)
    x = batch_norm(train, self.dtype)(x)
    return x if self.act is None else self.act(x)


class Classifier(nn.Module):
  """1x1 convolution with bias that produces per-pixel class logits."""
  num_classes: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    del train
    return PointwiseConv(self.num_classes, use_bias=True, dtype=self.dtype, name='Conv_0')(x)


class PyramidPooling(nn.Module):
  """PSP pyramid pooling: pooled branches upsampled and concatenated to `x`."""
  bins: Sequence[int] = (1, 2, 3, 6)
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    size, features = x.shape[1:3], x.shape[-1] // len(self.bins)
    branches = [x]
    for b in self.bins:
      y = ConvBN(features, dtype=self.dtype)(adaptive_avg_pool(x, b), train)
      branches.append(resize_bilinear(y, size))
    return jnp.concatenate(branches, axis=-1)


# Backbones by name; each takes output_stride and dtype keyword arguments.
BACKBONES = {
    'resnet50': resnet.resnet50,
    'resnet101': resnet.resnet101,
    'resnext50_32x4d': resnet.resnext50_32x4d,
    'wideresnet38': wideresnet38.WideResNet38,
}


def make_backbone(backbone, output_stride, dtype):
  """Builds a backbone from a BACKBONES name or a constructor (kwargs)."""
  # The converter loads pretrained weights into params['backbone'].
  if isinstance(backbone, str):
    backbone = BACKBONES[backbone]  # models.create checks names early.
  return backbone(output_stride=output_stride, dtype=dtype, name='backbone')
