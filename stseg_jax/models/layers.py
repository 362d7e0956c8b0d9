"""Layers shared by the segmentation heads: conv-BN-ReLU, resizing, pooling."""

from typing import Any, Callable, Sequence

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from stseg_jax.models import resnet
from stseg_jax.models import wideresnet38


def resize_bilinear(x, size):
  """Bilinear NHWC resize to `size`, as torch's align_corners=False."""
  # jax.image.resize samples at half-pixel centres, as torch does with
  # align_corners=False. antialias=False keeps downsampling a plain 2-tap
  # interpolation (torch's behaviour) rather than a box-filtered one.
  # It contracts with dense (out, in) weight matrices, which inflates XLA's
  # FLOP count; on CPU its gradient still beat a 2-tap gather (scatter-add).
  n, _, _, c = x.shape
  return jax.image.resize(x, (n, *size, c), 'bilinear', antialias=False)


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
  # A contraction, not jnp.sum(t * g): XLA's CPU reduce accumulates in order,
  # and over N*H*W terms of both signs that lost ~1e-3 relative accuracy.
  dkernel = jnp.stack([jnp.einsum('nhwc,nhwc->c', t, g,
                                  preferred_element_type=jnp.float32) for t in taps])
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
    return nn.Conv(self.num_classes, (1, 1), dtype=self.dtype,
                   param_dtype=jnp.float32)(x)


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
