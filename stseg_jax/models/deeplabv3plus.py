"""DeepLabV3+ (Chen et al. 2018): ASPP on a backbone, then a stride-4 decoder."""

from typing import Any, Callable

import flax.linen as nn
import jax.numpy as jnp

from stseg_jax.models import layers
from stseg_jax.models import resize


class ASPP(nn.Module):
  """Atrous spatial pyramid pooling: 1x1, three atrous 3x3, image pooling."""
  rates: tuple[int, ...] = (6, 12, 18)
  features: int = 256
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    conv = lambda k, d=1: layers.ConvBN(self.features, k, dilation=d,
                                        dtype=self.dtype)
    branches = [conv(1)(x, train)]
    branches += [conv(3, r)(x, train) for r in self.rates]
    pooled = conv(1)(jnp.mean(x, axis=(1, 2), keepdims=True), train)
    branches.append(jnp.broadcast_to(pooled, x.shape[:3] + pooled.shape[-1:]))
    # The paper's 0.1 dropout after the projection is left out.
    return conv(1)(jnp.concatenate(branches, axis=-1), train)


class DeepLabV3Plus(nn.Module):
  """DeepLabV3+; returns {'logits'} at the input resolution."""
  num_classes: int
  backbone: str | Callable[..., nn.Module] = 'resnext50_32x4d'
  output_stride: int = 16
  head_features: int = 256  # ASPP's and the decoder's channels (the paper's 256)
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    size = x.shape[1:3]
    feats = layers.make_backbone(self.backbone, self.output_stride,
                                 self.dtype)(x.astype(self.dtype), train)
    # Rates (6, 12, 18) are defined at output stride 16; scale them so the
    # receptive field in input pixels stays the same at other strides.
    rates = tuple(r * 16 // self.output_stride for r in (6, 12, 18))
    y = ASPP(rates, self.head_features, dtype=self.dtype)(feats['out'], train)
    low = layers.ConvBN(48, dtype=self.dtype)(feats['low_level'], train)
    y = resize.bilinear(y, low.shape[1:3])
    y = jnp.concatenate([y, low], axis=-1)
    for _ in range(2):
      y = layers.ConvBN(self.head_features, 3, dtype=self.dtype)(y, train)
    y = layers.Classifier(self.num_classes, dtype=self.dtype)(y)
    # Upsample in float32 so the loss sees f32 logits even with bf16 compute.
    return {'logits': resize.bilinear(y.astype(jnp.float32), size)}
