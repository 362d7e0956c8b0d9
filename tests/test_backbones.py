"""Shapes, strides, parameter counts, dtypes and BatchNorm of the backbones."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from stseg_jax.models import resnet
from stseg_jax.models.wideresnet38 import WideResNet38

BUILDERS = {'resnet50': resnet.resnet50, 'resnet101': resnet.resnet101,
            'resnext50_32x4d': resnet.resnext50_32x4d}


def count(tree):
  return sum(math.prod(x.shape) for x in jax.tree.leaves(tree))


def fake_init(model, x):
  """He-scaled numpy weights: jitting model.init costs ~10 s of CPU here."""
  shapes = jax.eval_shape(model.init, jax.random.key(0), x)
  rng = np.random.default_rng(0)

  def fill(path, s):
    if path[-1] == 'kernel':
      std = math.sqrt(2. / math.prod(s.shape[:-1]))
      return jnp.asarray(rng.standard_normal(s.shape, np.float32) * std)
    return jnp.full(s.shape, path[-1] in ('scale', 'var'), s.dtype)

  flat = traverse_util.flatten_dict(shapes)
  return traverse_util.unflatten_dict({k: fill(k, s) for k, s in flat.items()})


@pytest.mark.parametrize('kw,expected', [
    (dict(depth=50), 25_557_032),
    (dict(depth=50, groups=32, width_per_group=4), 25_028_904),
    (dict(depth=101), 44_549_160),
])
def test_classifier_param_counts_match_torchvision(kw, expected):
  model = resnet.ResNetClassifier(**kw)
  v = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 64, 64, 3)))
  assert count(v['params']) == expected


@pytest.mark.parametrize('arch', sorted(BUILDERS))
@pytest.mark.parametrize('output_stride', [8, 16])
@pytest.mark.parametrize('hw', [(33, 47), (65, 97)])
def test_resnet_shapes_and_strides(arch, output_stride, hw):
  model = BUILDERS[arch](output_stride=output_stride)
  x = jnp.zeros((2,) + hw + (3,))
  v = jax.eval_shape(model.init, jax.random.key(0), x)
  out = jax.eval_shape(model.apply, v, x)
  strides = {'layer1': 4, 'layer2': 8, 'layer3': min(16, output_stride),
             'layer4': output_stride}
  for i, (name, s) in enumerate(strides.items()):
    # torch's padding gives ceil(H / stride) at every stage.
    want = (2, -(-hw[0] // s), -(-hw[1] // s), 256 * 2**i)
    assert out[name].shape == want, name
  assert out['low_level'].shape == out['layer1'].shape
  assert out['aux'].shape == out['layer3'].shape
  assert out['out'].shape == out['layer4'].shape


def test_resnet_bf16_forward_and_batch_stats():
  model = resnet.resnet50(output_stride=8, dtype=jnp.bfloat16)
  x = jnp.asarray(np.random.default_rng(1).normal(size=(2, 32, 32, 3)))
  v = fake_init(model, x)
  assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(v['params']))
  train = jax.jit(lambda v, x: model.apply(v, x, train=True,
                                           mutable=['batch_stats']))
  out, upd = train(v, x)
  assert out['out'].dtype == jnp.bfloat16
  assert out['out'].shape == (2, 4, 4, 2048)
  assert all(s.dtype == jnp.float32 for s in jax.tree.leaves(upd))
  changed = jax.tree.map(lambda a, b: bool(jnp.any(a != b)),
                         v['batch_stats'], upd['batch_stats'])
  assert all(jax.tree.leaves(changed))
  evaluate = jax.jit(lambda v, x: model.apply(v, x, mutable=['batch_stats']))
  out, upd = evaluate(v, x)
  assert bool(jnp.all(jnp.isfinite(out['out'].astype(jnp.float32))))
  same = jax.tree.map(lambda a, b: bool(jnp.all(a == b)),
                      v['batch_stats'], upd['batch_stats'])
  assert all(jax.tree.leaves(same))


def test_wideresnet38_param_count():
  v = jax.eval_shape(WideResNet38().init, jax.random.key(0),
                     jnp.zeros((1, 33, 47, 3)))
  assert count(v['params']) == 105_062_720
  assert count(v['batch_stats']) == 39_552


@pytest.mark.parametrize('output_stride', [8, 16])
def test_wideresnet38_shapes(output_stride):
  model = WideResNet38(output_stride=output_stride)
  x = jnp.zeros((1, 33, 47, 3))
  v = jax.eval_shape(model.init, jax.random.key(0), x)
  out = jax.eval_shape(model.apply, v, x)
  s = output_stride
  strides = {'mod1': (1, 64), 'mod2': (2, 128), 'mod3': (4, 256),
             'mod4': (8, 512), 'mod5': (min(s, 16), 1024),
             'mod6': (s, 2048), 'mod7': (s, 4096)}
  for name, (stride, ch) in strides.items():
    assert out[name].shape == (1, -(-33 // stride), -(-47 // stride), ch), name
  assert out['low_level'].shape == out['mod2'].shape
  assert out['aux'].shape == out['mod5'].shape
  assert out['out'].shape == out['mod7'].shape


def test_wideresnet38_train_forward_bf16():
  model = WideResNet38(output_stride=8, dtype=jnp.bfloat16)
  x = jnp.asarray(np.random.default_rng(2).normal(size=(2, 17, 17, 3)))
  v = fake_init(model, x)
  out, upd = jax.jit(lambda v, x, rng: model.apply(
      v, x, train=True, mutable=['batch_stats'], rngs={'dropout': rng}))(
          v, x, jax.random.key(3))
  assert out['out'].dtype == jnp.bfloat16
  assert out['out'].shape == (2, 3, 3, 4096)
  assert bool(jnp.all(jnp.isfinite(out['out'].astype(jnp.float32))))
  assert count(upd['batch_stats']) == 39_552
