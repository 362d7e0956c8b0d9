"""Fast-SCNN in PyTorch: the peer of the CPU speed benchmark.

The torch side of a side-by-side timing (a torch train step against the JAX
trainer's step), so it must do exactly the work of models/fast_scnn.py: the
same layers in the same order, the same parameter count (1,137,795 for 19
classes), the same BatchNorm settings, padding and bilinear resizes, and a
train step that normalises and transposes the uint8 batch as the JAX step
does. tests/test_torch_fast_scnn.py checks the parameters against the Flax
tree and the outputs against the Flax model given the same weights.

Layout: torch's default NCHW. `make_train_step(..., channels_last=True)` runs
the network in torch.channels_last instead (NHWC in memory, like the JAX
model); whether that is faster on a given CPU is for the benchmark to say.
"""

import math

import torch
from torch import nn
from torch.nn import functional as F

from stseg_jax.data.labels import IGNORE_LABEL

# flax nn.BatchNorm(momentum=0.9, epsilon=1e-5) in models/resnet.py:
# flax keeps 0.9 of the old statistics, torch mixes in 0.1 of the new.
BN_EPS = 1e-5
BN_MOMENTUM = 1.0 - 0.9

# models.normalize: ImageNet statistics on the 0-255 scale.
MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)


def _upsample(x, size):
  # jax.image.resize(..., 'bilinear', antialias=False) samples at half-pixel
  # centres, which is torch's align_corners=False.
  return F.interpolate(x, size=size, mode='bilinear', align_corners=False)


class ConvBN(nn.Module):
  """Bias-free conv ('same' padding k // 2), BatchNorm, optional ReLU."""

  def __init__(self, cin, cout, kernel=1, stride=1, groups=1, relu=True):
    super().__init__()
    self.conv = nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2,
                          groups=groups, bias=False)
    self.bn = nn.BatchNorm2d(cout, eps=BN_EPS, momentum=BN_MOMENTUM)
    self.relu = relu

  def forward(self, x):
    x = self.bn(self.conv(x))
    # In place is safe: BN's backward keeps its input, not its output.
    return F.relu(x, inplace=True) if self.relu else x


def depthwise(c, stride=1, relu=True):
  """Depthwise 3x3 ConvBN (the Flax DepthwiseConv: one (3, 3, 1, C) kernel)."""
  return ConvBN(c, c, 3, stride, groups=c, relu=relu)


class DSConv(nn.Sequential):
  """Depthwise-separable conv: depthwise 3x3, pointwise 1x1, each BN-ReLU."""

  def __init__(self, cin, cout, stride=1):
    super().__init__(depthwise(cin, stride), ConvBN(cin, cout))


class Bottleneck(nn.Module):
  """MobileNetV2 inverted residual: expand, depthwise, linear projection."""

  def __init__(self, cin, cout, stride=1, expansion=6):
    super().__init__()
    hidden = cin * expansion
    self.expand = ConvBN(cin, hidden)
    self.depthwise = depthwise(hidden, stride)
    # Linear projection: no ReLU on the narrow output (as in the Flax model).
    self.project = ConvBN(hidden, cout, relu=False)
    self.residual = stride == 1 and cin == cout

  def forward(self, x):
    y = self.project(self.depthwise(self.expand(x)))
    return y + x if self.residual else y


class PyramidPooling(nn.Module):
  """PSP pooling: C/len(bins)-channel pooled branches, upsampled, concatenated."""

  def __init__(self, c, bins=(1, 2, 3, 6)):
    super().__init__()
    self.bins = bins
    self.branches = nn.ModuleList(ConvBN(c, c // len(bins)) for _ in bins)

  def forward(self, x):
    size = x.shape[-2:]
    # adaptive_avg_pool2d has the windows models.resize.adaptive_avg_pool copies.
    pooled = [_upsample(branch(F.adaptive_avg_pool2d(x, b)), size)
              for b, branch in zip(self.bins, self.branches)]
    return torch.cat([x] + pooled, dim=1)


class GlobalFeatureExtractor(nn.Module):
  """Three stages of three bottlenecks (strides 2, 2, 1), pyramid pooling."""

  def __init__(self, cin=64, stages=((64, 2), (96, 2), (128, 1))):
    super().__init__()
    blocks = []
    for cout, stride in stages:
      for i in range(3):
        blocks.append(Bottleneck(cin, cout, stride if i == 0 else 1))
        cin = cout
    self.bottlenecks = nn.Sequential(*blocks)
    self.ppm = PyramidPooling(cin)
    self.out = ConvBN(2 * cin, 128)  # The input plus 4 branches of C/4: 2C.

  def forward(self, x):
    return self.out(self.ppm(self.bottlenecks(x)))


class FeatureFusion(nn.Module):
  """Adds the upsampled global features to the stride-8 spatial features."""

  def __init__(self, high_c=64, low_c=128, features=128):
    super().__init__()
    # Registered in the Flax call order (low branch first), so parameters
    # pair up one-to-one with the Flax tree's.
    self.low_dw = depthwise(low_c)  # The paper's dilation is left out there too.
    self.low_pw = ConvBN(low_c, features, relu=False)
    self.high = ConvBN(high_c, features, relu=False)

  def forward(self, high, low):
    # To the high branch's exact size, not a fixed x4: odd inputs line up.
    low = self.low_pw(self.low_dw(_upsample(low, high.shape[-2:])))
    return F.relu(self.high(high) + low, inplace=True)


class FastSCNN(nn.Module):
  """Fast-SCNN (Poudel et al. 2019); NCHW float in, NCHW logits at input size."""

  def __init__(self, num_classes):
    super().__init__()
    # Learning to downsample: a shared stride-8 stem for both branches.
    self.downsample = nn.Sequential(ConvBN(3, 32, 3, 2), DSConv(32, 48, 2),
                                    DSConv(48, 64, 2))
    self.global_features = GlobalFeatureExtractor(64)
    self.fusion = FeatureFusion(64, 128, 128)
    self.head = nn.Sequential(DSConv(128, 128), DSConv(128, 128))
    # No dropout before the classifier, as in the Flax model.
    self.classifier = nn.Conv2d(128, num_classes, 1)
    self.apply(_flax_init)

  def forward(self, x):
    high = self.downsample(x)
    y = self.fusion(high, self.global_features(high))
    return _upsample(self.classifier(self.head(y)), x.shape[-2:])


def _flax_init(module):
  """Flax's defaults: lecun_normal (truncated) kernels, zero biases.

  Not needed for speed, but it starts both peers from the same distribution,
  so their first losses are comparable. BatchNorm's (1, 0) is torch's default.
  """
  if isinstance(module, nn.Conv2d):
    fan_in = module.weight[0].numel()  # (in/groups) * k * k, as flax's fan_in.
    # 0.8796... is the std of a unit normal truncated to [-2, 2] (flax's constant).
    std = math.sqrt(1.0 / fan_in) / 0.87962566103423978
    nn.init.trunc_normal_(module.weight, std=std, a=-2 * std, b=2 * std)
    if module.bias is not None:
      nn.init.zeros_(module.bias)


def param_count(model) -> int:
  """Trainable parameters; BN weight/bias count, running statistics do not."""
  return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _optimizer(model, lr, momentum, weight_decay):
  # optim.decay_mask: weight decay on kernels only, not on BN or the bias.
  # torch's SGD momentum (buf = m * buf + g; p -= lr * buf) is optax's
  # trace + apply_lr order.
  decay = [p for p in model.parameters() if p.ndim > 1]
  no_decay = [p for p in model.parameters() if p.ndim <= 1]
  return torch.optim.SGD([{'params': decay, 'weight_decay': weight_decay},
                          {'params': no_decay, 'weight_decay': 0.0}],
                         lr=lr, momentum=momentum)


def make_train_step(model, lr=0.01, momentum=0.9, weight_decay=1e-4,
                    channels_last=False):
  """A train step on uint8 NHWC images and uint8 NHW labels; returns the loss.

  Normalisation and the NHWC -> NCHW conversion happen inside the step,
  as in the JAX step. channels_last=True converts `model` in place.
  """
  memory_format = torch.channels_last if channels_last else torch.contiguous_format
  model.to(memory_format=memory_format)
  optimizer = _optimizer(model, lr, momentum, weight_decay)
  mean = torch.tensor(MEAN, dtype=torch.float32)
  std = torch.tensor(STD, dtype=torch.float32)

  def step(images_uint8_nhwc, labels_uint8_nhw):
    model.train()
    x = (images_uint8_nhwc.float() - mean) / std
    # A permuted NHWC tensor is channels_last in memory; make it the layout
    # asked for, else torch would silently run the convs channels_last.
    x = x.permute(0, 3, 1, 2).contiguous(memory_format=memory_format)
    logits = model(x)
    # Mean over labelled pixels, as losses.cross_entropy.
    loss = F.cross_entropy(logits, labels_uint8_nhw.long(), ignore_index=IGNORE_LABEL)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.item()

  return step
