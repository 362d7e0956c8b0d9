"""Fast-SCNN (Poudel et al. 2019): a two-branch real-time segmentation net."""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from stseg_jax.models import layers
from stseg_jax.models import resize


class DSConv(nn.Module):
  """Depthwise-separable conv: depthwise 3x3, pointwise 1x1, each BN-ReLU."""
  features: int
  strides: int = 1
  dtype: Any = jnp.float32
  shifted_depthwise: bool = True

  @nn.compact
  def __call__(self, x, train: bool = False):
    c = x.shape[-1]
    x = layers.ConvBN(c, 3, self.strides, groups=c, dtype=self.dtype,
                      shifted_depthwise=self.shifted_depthwise)(x, train)
    return layers.ConvBN(self.features, dtype=self.dtype)(x, train)


class Bottleneck(nn.Module):
  """MobileNetV2 inverted residual: expand, depthwise, linear projection."""
  features: int
  strides: int = 1
  expansion: int = 6
  dtype: Any = jnp.float32
  shifted_depthwise: bool = True

  @nn.compact
  def __call__(self, x, train: bool = False):
    hidden = x.shape[-1] * self.expansion
    y = layers.ConvBN(hidden, dtype=self.dtype)(x, train)
    y = layers.ConvBN(hidden, 3, self.strides, groups=hidden, dtype=self.dtype,
                      shifted_depthwise=self.shifted_depthwise)(y, train)
    # Linear projection: a ReLU here would discard information in the narrow
    # output (MobileNetV2's argument).
    y = layers.ConvBN(self.features, act=None, dtype=self.dtype)(y, train)
    if self.strides == 1 and x.shape[-1] == self.features:
      y = y + x
    return y


class GlobalFeatureExtractor(nn.Module):
  """Three stages of bottlenecks (strides 2, 2, 1) and pyramid pooling."""
  dtype: Any = jnp.float32
  shifted_depthwise: bool = True

  @nn.compact
  def __call__(self, x, train: bool = False):
    for features, strides in ((64, 2), (96, 2), (128, 1)):
      for i in range(3):
        x = Bottleneck(features, strides if i == 0 else 1, dtype=self.dtype,
                       shifted_depthwise=self.shifted_depthwise)(x, train)
    x = layers.PyramidPooling((1, 2, 3, 6), dtype=self.dtype)(x, train)
    return layers.ConvBN(128, dtype=self.dtype)(x, train)


class FeatureFusion(nn.Module):
  """Adds the upsampled global features to the stride-8 spatial features."""
  features: int = 128
  dtype: Any = jnp.float32
  shifted_depthwise: bool = True

  @nn.compact
  def __call__(self, high, low, train: bool = False):
    # Resize to the high branch's exact shape (not a fixed x4) so odd input
    # sizes line up. The paper's dilated depthwise conv is kept undilated.
    low = resize.bilinear(low, high.shape[1:3])
    c = low.shape[-1]
    low = layers.ConvBN(c, 3, groups=c, dtype=self.dtype,
                         shifted_depthwise=self.shifted_depthwise)(low, train)
    low = layers.ConvBN(self.features, act=None, dtype=self.dtype)(low, train)
    high = layers.ConvBN(self.features, act=None, dtype=self.dtype)(high, train)
    return nn.relu(high + low)


class FastSCNN(nn.Module):
  """Fast-SCNN; returns {'logits'} at input resolution."""
  num_classes: int
  dtype: Any = jnp.float32
  shifted_depthwise: bool = True

  @nn.compact
  def __call__(self, x, train: bool = False):
    size = x.shape[1:3]
    # Learning to downsample: a shared stride-8 stem for both branches.
    y = layers.ConvBN(32, 3, 2, dtype=self.dtype)(x.astype(self.dtype), train)
    y = DSConv(48, 2, dtype=self.dtype, shifted_depthwise=self.shifted_depthwise)(y, train)
    high = DSConv(64, 2, dtype=self.dtype, shifted_depthwise=self.shifted_depthwise)(y, train)
    low = GlobalFeatureExtractor(dtype=self.dtype,
                                 shifted_depthwise=self.shifted_depthwise)(high, train)
    y = FeatureFusion(dtype=self.dtype, shifted_depthwise=self.shifted_depthwise)(high, low, train)
    for _ in range(2):
      y = DSConv(128, dtype=self.dtype, shifted_depthwise=self.shifted_depthwise)(y, train)
    # The paper's dropout before the classifier is left out.
    y = layers.Classifier(self.num_classes, dtype=self.dtype)(y)
    return {'logits': resize.bilinear(y.astype(jnp.float32), size)}
