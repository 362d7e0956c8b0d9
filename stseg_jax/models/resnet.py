"""ResNet-50/101 and ResNeXt-50 (32x4d) backbones, torchvision layout, NHWC.

The architecture is torchvision's exactly (ResNet v1.5: the stride sits on the
3x3 conv of the bottleneck), so ImageNet weights convert 1:1 (convert_torch.py).
Submodule names mirror torchvision's state-dict keys:

  torch key                      flax path
  conv1.weight                   conv1/kernel
  bn1.{weight,bias}              bn1/{scale,bias}      (params)
  bn1.running_{mean,var}         bn1/{mean,var}        (batch_stats)
  layer2.0.conv2.weight          layer2_0/conv2/kernel
  layer2.0.downsample.0.weight   layer2_0/downsample_conv/kernel
  layer2.0.downsample.1.*        layer2_0/downsample_bn/*

Output stride 8 or 16 replaces the stride of layers 3 and 4 (or 4 only) with
dilation, as torchvision's `replace_stride_with_dilation`: the first block of
a dilated layer keeps the previous dilation, the others use the new one.
"""
import functools
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from stseg_jax.models import batch_norm as batch_norm_lib
from stseg_jax.models import conv as conv_lib

STAGES = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}
EXPANSION = 4

# torchvision initialises convs with kaiming_normal(fan_out, relu).
conv_init = nn.initializers.variance_scaling(2.0, 'fan_out', 'normal')


def batch_norm(train, dtype, name):
  """BatchNorm matching torch's defaults (torch momentum 0.1 == flax 0.9)."""
  # No axis_name: under jax.jit with a sharded batch the statistics are
  # global (cross-replica BN). Two-pass variance: E[x^2] - E[x]^2 cancels.
  return batch_norm_lib.BatchNorm(not train, 0.9, 1e-5, dtype, name=name)


def conv(features, kernel, stride=1, dilation=1, groups=1, dtype=jnp.float32,
         name=None):
  """Bias-free conv with torch's symmetric padding (dilation * (k - 1) / 2)."""
  if kernel == 1 and groups == 1:
    return conv_lib.PointwiseConv(features, stride, kernel_init=conv_init, dtype=dtype,
                                  name=name)
  pad = dilation * (kernel - 1) // 2
  return nn.Conv(features, (kernel, kernel), strides=stride,
                 padding=((pad, pad), (pad, pad)), kernel_dilation=dilation,
                 feature_group_count=groups, use_bias=False, dtype=dtype,
                 param_dtype=jnp.float32, kernel_init=conv_init, name=name)


def max_pool_3x3_s2(x):
  """torch MaxPool2d(3, 2, padding=1); flax pads max_pool with -inf."""
  return nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))


class Bottleneck(nn.Module):
  """torchvision Bottleneck: 1x1 -> 3x3 (stride, dilation, groups) -> 1x1."""
  planes: int
  stride: int = 1
  dilation: int = 1
  groups: int = 1
  width_per_group: int = 64
  downsample: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    width = int(self.planes * (self.width_per_group / 64.)) * self.groups
    bn = functools.partial(batch_norm, train, self.dtype)
    y = conv(width, 1, dtype=self.dtype, name='conv1')(x)
    y = nn.relu(bn('bn1')(y))
    y = conv(width, 3, self.stride, self.dilation, self.groups,
             dtype=self.dtype, name='conv2')(y)
    y = nn.relu(bn('bn2')(y))
    y = conv(self.planes * EXPANSION, 1, dtype=self.dtype, name='conv3')(y)
    y = bn('bn3')(y)
    if self.downsample:
      x = conv(self.planes * EXPANSION, 1, self.stride, dtype=self.dtype,
               name='downsample_conv')(x)
      x = bn('downsample_bn')(x)
    return nn.relu(x + y)


def layer_plan(depth, output_stride):
  """Per-layer (planes, blocks, stride, first-block dilation, dilation)."""
  if output_stride not in (8, 16, 32):
    raise ValueError(f'output_stride must be 8, 16 or 32, got {output_stride}')
  dilate = {8: (False, False, True, True), 16: (False, False, False, True),
            32: (False,) * 4}[output_stride]
  plan, dilation = [], 1
  for i, (blocks, d) in enumerate(zip(STAGES[depth], dilate)):
    stride, previous = (1 if i == 0 else 2), dilation
    if d:
      dilation, stride = dilation * stride, 1
    plan.append((64 * 2**i, blocks, stride, previous, dilation))
  return plan


class ResNet(nn.Module):
  """ResNet/ResNeXt trunk returning a dict of per-stage features."""
  depth: int = 50
  groups: int = 1
  width_per_group: int = 64
  output_stride: int = 8
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    if self.depth not in STAGES:
      raise ValueError(f'depth must be 50 or 101, got {self.depth}')
    x = conv(64, 7, 2, dtype=self.dtype, name='conv1')(x)
    x = nn.relu(batch_norm(train, self.dtype, 'bn1')(x))
    x = max_pool_3x3_s2(x)
    feats, in_ch = {}, 64
    plan = layer_plan(self.depth, self.output_stride)
    for i, (planes, blocks, stride, first_dil, dil) in enumerate(plan):
      for b in range(blocks):
        x = Bottleneck(
            planes, stride=stride if b == 0 else 1,
            dilation=first_dil if b == 0 else dil, groups=self.groups,
            width_per_group=self.width_per_group,
            downsample=b == 0 and (stride != 1 or in_ch != planes * EXPANSION),
            dtype=self.dtype, name=f'layer{i + 1}_{b}')(x, train)
        in_ch = planes * EXPANSION
      feats[f'layer{i + 1}'] = x
    feats.update(low_level=feats['layer1'], aux=feats['layer3'],
                 out=feats['layer4'])
    return feats


def resnet50(**kw):
  """ResNet-50 trunk."""
  return ResNet(depth=50, **kw)


def resnet101(**kw):
  """ResNet-101 trunk."""
  return ResNet(depth=101, **kw)


def resnext50_32x4d(**kw):
  """ResNeXt-50 32x4d trunk."""
  return ResNet(depth=50, groups=32, width_per_group=4, **kw)


class ResNetClassifier(nn.Module):
  """ImageNet classifier (OS-32 trunk, GAP, fc); only to check param counts."""
  depth: int = 50
  groups: int = 1
  width_per_group: int = 64
  num_classes: int = 1000
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = ResNet(self.depth, self.groups, self.width_per_group, output_stride=32,
               dtype=self.dtype, name='backbone')(x, train)['out']
    x = jnp.mean(x, axis=(1, 2))
    return nn.Dense(self.num_classes, dtype=self.dtype,
                    param_dtype=jnp.float32, name='fc')(x)
