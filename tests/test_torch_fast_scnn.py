"""The torch Fast-SCNN (the benchmark's peer) is the Flax model, layer for layer."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip('torch')

from stseg_jax import models  # pylint: disable=g-import-not-at-top
from stseg_jax.bench import torch_fast_scnn as tfs  # pylint: disable=g-import-not-at-top
from stseg_jax.data.labels import IGNORE_LABEL  # pylint: disable=g-import-not-at-top

NUM_CLASSES = 19


@pytest.fixture(scope='module')
def flax_shapes():
  # eval_shape: the parameter tree without running (or compiling) an init.
  model = models.create('fast_scnn', NUM_CLASSES)
  return jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 64, 64, 3)))


def _flax_shape(torch_shape):
  # torch OIHW kernels are flax HWIO; vectors are the same.
  s = tuple(torch_shape)
  return (s[2], s[3], s[1], s[0]) if len(s) == 4 else s


def _flax_convbn_paths():
  """The Flax model's ConvBN scopes in call order (the torch registration order)."""
  paths = [('ConvBN_0',)] + [(f'DSConv_{d}', f'ConvBN_{i}') for d in (0, 1) for i in (0, 1)]
  gfe = 'GlobalFeatureExtractor_0'
  paths += [(gfe, f'Bottleneck_{b}', f'ConvBN_{i}') for b in range(9) for i in range(3)]
  paths += [(gfe, 'PyramidPooling_0', f'ConvBN_{i}') for i in range(4)]
  paths += [(gfe, 'ConvBN_0')]
  paths += [('FeatureFusion_0', f'ConvBN_{i}') for i in range(3)]
  paths += [(f'DSConv_{d}', f'ConvBN_{i}') for d in (2, 3) for i in (0, 1)]
  return paths


def _to_flax(model):
  """The torch model's weights as a Flax `params` tree (nested dicts)."""
  params = {}

  def put(path, value):
    node = params
    for key in path[:-1]:
      node = node.setdefault(key, {})
    node[path[-1]] = jnp.asarray(value.detach().numpy())

  blocks = [m for m in model.modules() if isinstance(m, tfs.ConvBN)]
  paths = _flax_convbn_paths()
  assert len(blocks) == len(paths)
  for block, path in zip(blocks, paths):
    put(path + ('Conv_0', 'kernel'), block.conv.weight.permute(2, 3, 1, 0))
    put(path + ('BatchNorm_0', 'scale'), block.bn.weight)
    put(path + ('BatchNorm_0', 'bias'), block.bn.bias)
  put(('Classifier_0', 'Conv_0', 'kernel'), model.classifier.weight.permute(2, 3, 1, 0))
  put(('Classifier_0', 'Conv_0', 'bias'), model.classifier.bias)
  return params


def test_param_count_matches_flax(flax_shapes):
  flax_count = models.param_count(flax_shapes)
  assert tfs.param_count(tfs.FastSCNN(NUM_CLASSES)) == flax_count == 1_137_795


def test_param_shapes_match_flax(flax_shapes):
  flax_leaves = sorted(tuple(p.shape) for p in jax.tree.leaves(flax_shapes['params']))
  torch_leaves = sorted(_flax_shape(p.shape) for p in tfs.FastSCNN(NUM_CLASSES).parameters())
  assert torch_leaves == flax_leaves


def test_weights_pair_one_to_one(flax_shapes):
  # Every torch tensor lands on a Flax leaf of its shape, and covers the tree.
  params = _to_flax(tfs.FastSCNN(NUM_CLASSES))
  got = jax.tree.map(lambda p: p.shape, params)
  want = jax.tree.map(lambda p: p.shape, flax_shapes['params'])
  assert got == want


def test_forward_shape():
  model = tfs.FastSCNN(NUM_CLASSES).eval()
  with torch.no_grad():
    out = model(torch.randn(2, 3, 64, 96))
  assert out.shape == (2, NUM_CLASSES, 64, 96)


@pytest.mark.parametrize('train, atol', [(False, 1e-5), (True, 2e-3)])
def test_same_logits_as_flax(flax_shapes, train, atol):
  # Same weights and input: the two nets agree. With running statistics
  # (eval) to float32 rounding; with batch statistics on the 2x2 stride-32
  # maps small differences grow through the BNs, so the bound is looser
  # (the logits' std is ~0.5). An odd size checks the exact-size resizes and
  # the overlapping pyramid windows.
  torch.manual_seed(0)
  model = tfs.FastSCNN(NUM_CLASSES).train(train)
  with torch.no_grad():  # Non-trivial BN affine parameters.
    for m in model.modules():
      if isinstance(m, torch.nn.BatchNorm2d):
        m.weight.uniform_(0.5, 1.5)
        m.bias.uniform_(-0.2, 0.2)
  x = torch.randn(2, 3, 45, 60)
  with torch.no_grad():
    want = model(x).permute(0, 2, 3, 1).numpy()
  # torch's fresh running statistics: mean 0, var 1.
  stats = jax.tree_util.tree_map_with_path(
      lambda path, s: jnp.full(s.shape, path[-1].key == 'var', s.dtype),
      flax_shapes['batch_stats'])
  variables = {'params': _to_flax(model), 'batch_stats': stats}
  flax_model = models.create('fast_scnn', NUM_CLASSES)
  # jit: compiling the forward is ~5x faster than running it op by op.
  apply = jax.jit(lambda v, x: flax_model.apply(v, x, train=train, mutable=['batch_stats']))
  out, _ = apply(variables, jnp.asarray(x.permute(0, 2, 3, 1).numpy()))
  np.testing.assert_allclose(np.asarray(out['logits']), want, rtol=0, atol=atol)


def test_train_step_updates_params():
  torch.manual_seed(0)
  model = tfs.FastSCNN(NUM_CLASSES)
  step = tfs.make_train_step(model)
  images = torch.randint(0, 256, (2, 64, 64, 3), dtype=torch.uint8)
  labels = torch.randint(0, NUM_CLASSES, (2, 64, 64), dtype=torch.uint8)
  labels[:, :8] = IGNORE_LABEL
  before = [p.detach().clone() for p in model.parameters()]
  loss = step(images, labels)
  assert np.isfinite(loss)
  changed = [not torch.equal(b, p) for b, p in zip(before, model.parameters())]
  # Every kernel and the classifier bias move; a few BN scales of 1.0 can
  # take an lr * grad step below float32's resolution there, so not all do.
  assert all(c for c, p in zip(changed, model.parameters()) if p.ndim > 1)
  assert changed[-1]  # classifier.bias: no weight decay, so only its gradient
  assert sum(changed) > 0.9 * len(changed)
  assert model.training
