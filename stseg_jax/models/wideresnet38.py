"""WideResNet38 trunk (Wu et al., 'Wider or Deeper', model A), NHWC.

This is `wider_resnet38_a2` of mapillary/inplace_abn as NVIDIA's
semantic-segmentation repo uses it in DeepWV3Plus: a 3x3 conv (mod1, stride 1),
then six modules of pre-activation ("identity mapping") residual blocks,
mod2..mod7. mod2 and mod3 are preceded by 3x3/2 max pools, mod4 opens with a
strided block. For output stride 8, mod5 uses dilation 2 and mod6/mod7
dilation 4 (the `dilation=True` variant); for 16, mod5 is strided and mod6/mod7
use dilation 2; 32 is the undilated classifier trunk.

Differences from the reference, on purpose:
* InPlaceABN / bnrelu is plain BatchNorm + ReLU (NVIDIA's bnrelu is exactly
  that; mapillary's ABN default is leaky ReLU 0.01, which NVIDIA does not use).
* No `bn_out`/classifier: DeepWV3Plus feeds mod7's raw (pre-activation) sum
  to ASPP and never calls bn_out, so 'out' is that sum.

Strides: mod1 1, mod2 2, mod3 4, mod4 8, mod5..7 per output_stride. Returned:
'low_level' = mod2 output (128 ch, stride 2: NVIDIA's decoder takes its skip
from mod2, which is at stride 2, not 4); 'aux' = mod5 output (1024 ch, the
analogue of ResNet layer3); 'out' = mod7 output (4096 ch); plus 'mod1'..'mod7'.

Parameters: 105,062,720 (batch_stats: 39,552 more), of which mod7 alone is
37.8M. Counted by hand from the reference module definitions, layer by
layer, this is exactly the reference trunk (mod1..mod7) without bn_out; with
bn_out (+8,192) and the 1000-class fc (+4,097,000) the ImageNet classifier
has 109,167,912. The "~124M" sometimes quoted for model A does not follow
from the reference channel/block spec; we match the code NVIDIA ran.
Dropout2d (0.3 in mod6, 0.5 in mod7, as the reference) needs a 'dropout' rng
when train=True; set dropout=False to turn it off.

Flax names mirror the torch keys: mod1_conv1, modM_blockB/{bn1,conv1,bn2,
conv2,bn3,conv3,proj_conv} (torch: modM.blockB.bn1.0, .convs.conv1, ...).
"""
import functools
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from stseg_jax.models.resnet import batch_norm, conv, max_pool_3x3_s2

CHANNELS = ((128, 128), (256, 256), (512, 512), (512, 1024),
            (512, 1024, 2048), (1024, 2048, 4096))
BLOCKS = (3, 3, 6, 3, 1, 1)
DROP_RATES = (0., 0., 0., 0., 0.3, 0.5)


def module_plan(output_stride):
  """(stride of the first block, dilation) for mod2..mod7."""
  plans = {8: ((1, 1), (1, 1), (2, 1), (1, 2), (1, 4), (1, 4)),
           16: ((1, 1), (1, 1), (2, 1), (2, 1), (1, 2), (1, 2)),
           32: ((1, 1), (1, 1), (2, 1), (2, 1), (2, 1), (1, 1))}
  if output_stride not in plans:
    raise ValueError(f'output_stride must be 8, 16 or 32, got {output_stride}')
  return plans[output_stride]


class IdentityResidualBlock(nn.Module):
  """Pre-activation block; 2 channels: 3x3-3x3, 3 channels: 1x1-3x3-1x1."""
  channels: tuple
  stride: int = 1
  dilation: int = 1
  drop_rate: float = 0.
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    bn = functools.partial(batch_norm, train, self.dtype)
    cv = functools.partial(conv, dtype=self.dtype)
    # Channel dropout (torch Dropout2d): one mask value per (sample, channel).
    drop = nn.Dropout(self.drop_rate, broadcast_dims=(1, 2),
                      deterministic=not train or self.drop_rate == 0.)
    h = nn.relu(bn('bn1')(x))
    # The projection shortcut reads the normalised input, the identity the raw.
    shortcut = x
    if self.stride != 1 or x.shape[-1] != self.channels[-1]:
      shortcut = cv(self.channels[-1], 1, self.stride, name='proj_conv')(h)
    if len(self.channels) == 2:
      y = cv(self.channels[0], 3, self.stride, self.dilation, name='conv1')(h)
      y = drop(nn.relu(bn('bn2')(y)))
      y = cv(self.channels[1], 3, 1, self.dilation, name='conv2')(y)
    else:
      y = cv(self.channels[0], 1, self.stride, name='conv1')(h)
      y = nn.relu(bn('bn2')(y))
      y = cv(self.channels[1], 3, 1, self.dilation, name='conv2')(y)
      y = drop(nn.relu(bn('bn3')(y)))
      y = cv(self.channels[2], 1, name='conv3')(y)
    return y + shortcut


class WideResNet38(nn.Module):
  """wider_resnet38_a2 trunk returning a dict of per-module features."""
  output_stride: int = 8
  dropout: bool = True
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    plan = module_plan(self.output_stride)
    x = conv(64, 3, dtype=self.dtype, name='mod1_conv1')(x)
    feats = {'mod1': x}
    for m, (channels, blocks, (stride, dil), rate) in enumerate(
        zip(CHANNELS, BLOCKS, plan, DROP_RATES), start=2):
      if m in (2, 3):
        x = max_pool_3x3_s2(x)
      for b in range(blocks):
        x = IdentityResidualBlock(
            channels, stride=stride if b == 0 else 1, dilation=dil,
            drop_rate=rate if self.dropout else 0., dtype=self.dtype,
            name=f'mod{m}_block{b + 1}')(x, train)
      feats[f'mod{m}'] = x
    feats.update(low_level=feats['mod2'], aux=feats['mod5'], out=feats['mod7'])
    return feats
