"""Layers shared by the segmentation heads: conv-BN-ReLU, classifier, pyramid pooling."""
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax.numpy as jnp

from stseg_jax.models import conv
from stseg_jax.models import efficientnet_lite
from stseg_jax.models import resize
from stseg_jax.models import resnet
from stseg_jax.models import wideresnet38


def batch_norm(train, dtype, name=None):
  """The project's BatchNorm (torch momentum 0.1); one definition, in resnet.py."""
  return resnet.batch_norm(train, dtype, name)


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
    x = self._conv(x)
    x = batch_norm(train, self.dtype)(x)
    return x if self.act is None else self.act(x)

  def _conv(self, x):
    """The convolution, in the form XLA:CPU runs fastest (models/conv.py).

    Every form has nn.Conv's parameter (named Conv_0), so which one runs does
    not show in checkpoints.
    """
    k, s, cin = self.kernel, self.strides, x.shape[-1]
    if self.shifted_depthwise and self.groups > 1 and self.groups == self.features == cin:
      return conv.DepthwiseConv(k, s, self.dilation, self.dtype, name='Conv_0')(x)
    if self.groups == 1 and k == 1 and s == 1:
      return conv.PointwiseConv(self.features, dtype=self.dtype, name='Conv_0')(x)
    if (self.groups == 1 and k == 3 and s == 2 and self.dilation == 1 and cin <= 4
        and x.shape[1] % 2 == 0 and x.shape[2] % 2 == 0):
      return conv.StemConv(self.features, self.dtype, name='Conv_0')(x)
    return nn.Conv(self.features, (k, k), strides=s, kernel_dilation=self.dilation,
                   padding=[(self.dilation * (k // 2),) * 2] * 2,
                   feature_group_count=self.groups, use_bias=False,
                   dtype=self.dtype, param_dtype=jnp.float32, name='Conv_0')(x)


class Classifier(nn.Module):
  """1x1 convolution with bias that produces per-pixel class logits."""
  num_classes: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    del train
    return conv.PointwiseConv(self.num_classes, use_bias=True, dtype=self.dtype, name='Conv_0')(x)


class PyramidPooling(nn.Module):
  """PSP pyramid pooling: pooled branches upsampled and concatenated to `x`."""
  bins: Sequence[int] = (1, 2, 3, 6)
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    size, features = x.shape[1:3], x.shape[-1] // len(self.bins)
    branches = [x]
    for b in self.bins:
      y = ConvBN(features, dtype=self.dtype)(resize.adaptive_avg_pool(x, b), train)
      branches.append(resize.bilinear(y, size))
    return jnp.concatenate(branches, axis=-1)


# Backbones by name; each takes output_stride and dtype keyword arguments.
BACKBONES = {
    'resnet50': resnet.resnet50,
    'resnet101': resnet.resnet101,
    'resnext50_32x4d': resnet.resnext50_32x4d,
    'wideresnet38': wideresnet38.WideResNet38,
    'efficientnet_lite0': efficientnet_lite.EfficientNetLite0,  # ImageNet weights: convert_torch.py
}


def make_backbone(backbone, output_stride, dtype):
  """Builds a backbone from a BACKBONES name or a constructor (kwargs)."""
  # The converter loads pretrained weights into params['backbone'].
  if isinstance(backbone, str):
    backbone = BACKBONES[backbone]  # models.create checks names early.
  return backbone(output_stride=output_stride, dtype=dtype, name='backbone')
