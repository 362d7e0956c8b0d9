"""PSPNet (Zhao et al. 2017): pyramid pooling head, auxiliary stage-3 head."""

from typing import Any, Callable

import flax.linen as nn
import jax.numpy as jnp

from stseg_jax.models import layers
from stseg_jax.models import resize


class PSPNet(nn.Module):
  """PSPNet; returns {'logits', 'aux_logits' if aux_head} at input size."""
  num_classes: int
  backbone: str | Callable[..., nn.Module] = 'resnet101'
  output_stride: int = 8
  aux_head: bool = True
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    size = x.shape[1:3]
    feats = layers.make_backbone(self.backbone, self.output_stride,
                                 self.dtype)(x.astype(self.dtype), train)
    y = layers.PyramidPooling((1, 2, 3, 6), dtype=self.dtype)(feats['out'],
                                                              train)
    # The paper's 0.1 dropout before the classifiers is left out.
    y = layers.ConvBN(512, 3, dtype=self.dtype)(y, train)
    y = layers.Classifier(self.num_classes, dtype=self.dtype)(y)
    out = {'logits': resize.bilinear(y.astype(jnp.float32), size)}
    if self.aux_head:
      a = layers.ConvBN(256, 3, dtype=self.dtype)(feats['aux'], train)
      a = layers.Classifier(self.num_classes, dtype=self.dtype)(a)
      out['aux_logits'] = resize.bilinear(a.astype(jnp.float32), size)
    return out
