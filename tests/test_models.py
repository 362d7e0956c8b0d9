"""Shape, parameter and numerics tests for the segmentation models."""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from stseg_jax import models
from stseg_jax.models import conv
from stseg_jax.models import layers
from stseg_jax.models import resize
from stseg_jax.models.summary import random_variables

# Scaled-down CamVid (360x480) and KITTI (368x1224) shapes: odd on purpose.
ODD_SIZES = [(45, 60), (46, 153)]


class TinyBackbone(nn.Module):
  """Stand-in with the backbone contract, small enough to compile in ~1 s."""
  output_stride: int = 16
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    conv = lambda c, s=2: layers.ConvBN(c, 3, s, dtype=self.dtype)
    low = conv(8)(conv(8)(x, train), train)  # Stride 4.
    aux = conv(16)(low, train)  # Stride 8.
    if self.output_stride == 16:
      aux = conv(16)(aux, train)
    return {'low_level': low, 'aux': aux, 'out': conv(32, 1)(aux, train)}


def _init(model, shape=(1, 32, 32, 3)):
  # Params do not depend on the spatial size, so one small init serves all.
  return jax.jit(model.init)(jax.random.key(0), jnp.zeros(shape))


def _images(n, h, w):
  return jax.random.normal(jax.random.key(1), (n, h, w, 3))


@pytest.fixture(scope='module')
def fast_scnn_vars():
  return _init(models.create('fast_scnn', 19))


def _resize_reference(x, out):
  """torch align_corners=False bilinear along axis 0, written out by hand."""
  src = np.maximum((np.arange(out) + 0.5) * len(x) / out - 0.5, 0.0)
  i0 = np.floor(src).astype(int)
  i1 = np.minimum(i0 + 1, len(x) - 1)
  lam = src - i0
  return x[i0] * (1 - lam) + x[i1] * lam


@pytest.mark.parametrize('size_in,size_out', [(3, 7), (7, 3), (5, 5), (4, 8)])
def test_resize_bilinear_matches_torch_formula(size_in, size_out):
  x = np.random.default_rng(0).normal(size=size_in).astype(np.float32)
  got = resize.bilinear(jnp.asarray(x)[None, :, None, None],
                               (size_out, 1))
  np.testing.assert_allclose(got[0, :, 0, 0], _resize_reference(x, size_out),
                             rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('shape,size', [((2, 4, 5, 3), (32, 40)), ((1, 3, 2, 2), (6, 16)),
                                        ((1, 1, 1, 2), (8, 8)), ((2, 5, 7, 3), (15, 36))])
def test_resize_bilinear_gradient_matches_dense_resize(shape, size):
  # Integer factors take the phase form with its written-out gradient; 36/7
  # falls back to jax.image.resize: both against jax.image.resize's autodiff.
  x = jax.random.normal(jax.random.key(0), shape)
  dense = lambda x: jax.image.resize(x, (shape[0], *size, shape[3]), 'bilinear',
                                     antialias=False)
  np.testing.assert_allclose(resize.bilinear(x, size), dense(x), rtol=1e-5, atol=1e-5)
  cotangent = jax.random.normal(jax.random.key(1), (shape[0], *size, shape[3]))
  grad = lambda f: jax.grad(lambda x: jnp.sum(f(x) * cotangent))(x)
  np.testing.assert_allclose(grad(lambda x: resize.bilinear(x, size)), grad(dense),
                             rtol=1e-5, atol=1e-5)


def test_pointwise_conv_is_nn_conv():
  x = jax.random.normal(jax.random.key(0), (2, 5, 6, 4))
  for use_bias in (False, True):
    ours, ref = conv.PointwiseConv(3, use_bias=use_bias), nn.Conv(3, (1, 1), use_bias=use_bias)
    variables = ours.init(jax.random.key(1), x)
    # Same parameter tree and initial values, so checkpoints do not care.
    jax.tree.map(np.testing.assert_array_equal, variables, ref.init(jax.random.key(1), x))
    np.testing.assert_allclose(ours.apply(variables, x), ref.apply(variables, x),
                               rtol=1e-5, atol=1e-6)


def test_stem_conv_is_nn_conv_3x3_stride_2():
  x = jax.random.normal(jax.random.key(0), (2, 10, 14, 3))
  ours = conv.StemConv(8)
  ref = nn.Conv(8, (3, 3), strides=2, padding=[(1, 1), (1, 1)], use_bias=False)
  variables = ours.init(jax.random.key(1), x)
  jax.tree.map(np.testing.assert_array_equal, variables, ref.init(jax.random.key(1), x))
  np.testing.assert_allclose(ours.apply(variables, x), ref.apply(variables, x), rtol=1e-5,
                             atol=1e-5)
  cotangent = jax.random.normal(jax.random.key(2), (2, 5, 7, 8))
  grad = lambda m: jax.grad(lambda v, x: jnp.sum(m.apply(v, x) * cotangent), (0, 1))(variables, x)
  for a, b in zip(jax.tree.leaves(grad(ours)), jax.tree.leaves(grad(ref))):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_adaptive_avg_pool_hand_example():
  x = (10.0 * np.arange(5)[:, None] + np.arange(3)[None, :])[None, ..., None]
  # H=5 into 2 bins: rows [0, 3) and [2, 5); W=3: cols [0, 2) and [1, 3).
  got = resize.adaptive_avg_pool(jnp.asarray(x, jnp.float32), 2)
  np.testing.assert_allclose(got[0, ..., 0], [[10.5, 11.5], [30.5, 31.5]])
  # More bins than rows: windows [0,1) [0,2) [1,3) [2,4) [3,5) [4,5).
  got = resize.adaptive_avg_pool(jnp.asarray(x[:, :, :1], jnp.float32), 6)
  np.testing.assert_allclose(got[0, :, 0, 0], [0, 5, 15, 25, 35, 40])


def test_fast_scnn_param_count():
  variables = jax.eval_shape(models.create('fast_scnn', 19).init,
                             jax.random.key(0), jnp.zeros((1, 64, 64, 3)))
  total = models.param_count(variables)
  paths = jax.tree_util.tree_leaves_with_path(variables['params'])
  bn = sum(x.size for p, x in paths if 'BatchNorm' in jax.tree_util.keystr(p))
  # The paper's 1.11M matches the count without BatchNorm scales and biases
  # (folded at inference); with them it is the 1.14M PyTorch ports report.
  assert total == 1_137_795
  assert abs(total - bn - 1.11e6) / 1.11e6 < 0.02
  assert abs(total - 1.14e6) / 1.14e6 < 0.02


@pytest.mark.parametrize('size', ODD_SIZES)
def test_fast_scnn_shapes(fast_scnn_vars, size):
  model = models.create('fast_scnn', 19)
  out = jax.jit(model.apply)(fast_scnn_vars, _images(2, *size))
  assert set(out) == {'logits'}
  assert out['logits'].shape == (2, *size, 19)
  assert out['logits'].dtype == jnp.float32
  assert np.isfinite(np.asarray(out['logits'])).all()


def test_fast_scnn_full_camvid_size(fast_scnn_vars):
  model = models.create('fast_scnn', 19)
  out = jax.jit(model.apply)(fast_scnn_vars, _images(1, 360, 480))
  assert out['logits'].shape == (1, 360, 480, 19)


@pytest.mark.parametrize('name,options,aux', [
    ('deeplabv3plus', {}, False),
    ('deeplabv3plus', {'output_stride': 8}, False),
    ('pspnet', {}, True),
    ('pspnet', {'aux_head': False, 'output_stride': 16}, False),
])
def test_backbone_models_shapes(name, options, aux):
  model = models.create(name, 7, backbone=TinyBackbone, **options)
  variables = random_variables(model)
  assert 'backbone' in variables['params']
  apply = jax.jit(model.apply)
  for size in ODD_SIZES:
    out = apply(variables, _images(1, *size))
    assert set(out) == ({'logits', 'aux_logits'} if aux else {'logits'})
    for v in out.values():
      assert v.shape == (1, *size, 7) and v.dtype == jnp.float32


@pytest.mark.parametrize('name,backbone', [
    ('deeplabv3plus', 'resnet50'),
    ('deeplabv3plus', 'resnext50_32x4d'),
    ('deeplabv3plus', 'wideresnet38'),
    ('pspnet', 'resnet101'),
])
def test_real_backbones_shapes(name, backbone):
  # eval_shape traces without compiling: checks wiring, not numerics.
  model = models.create(name, 19, backbone=backbone, output_stride=16)
  x = jax.ShapeDtypeStruct((1, 46, 153, 3), jnp.float32)
  variables = jax.eval_shape(model.init, jax.random.key(0), x)
  assert 'backbone' in variables['params']
  out = jax.eval_shape(model.apply, variables, x)
  assert out['logits'].shape == (1, 46, 153, 19)
  assert ('aux_logits' in out) == (name == 'pspnet')


def test_bfloat16_compute_float32_params_and_logits(fast_scnn_vars):
  model = models.create('fast_scnn', 19, dtype='bfloat16')
  shapes = jax.eval_shape(model.init, jax.random.key(0),
                          jnp.zeros((1, 64, 64, 3)))
  assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(shapes))
  out, state = jax.jit(lambda v, x: model.apply(
      v, x, capture_intermediates=True, mutable=['intermediates']))(
          fast_scnn_vars, _images(1, 45, 60))
  assert out['logits'].dtype == jnp.float32
  inter = state['intermediates']
  assert inter['Classifier_0']['__call__'][0].dtype == jnp.bfloat16
  assert inter['DSConv_2']['__call__'][0].dtype == jnp.bfloat16


def test_batch_norm_train_updates_stats_eval_is_stable(fast_scnn_vars):
  model = models.create('fast_scnn', 19)
  x = _images(2, 45, 60)
  _, updates = jax.jit(lambda v, x: model.apply(
      v, x, train=True, mutable=['batch_stats']))(fast_scnn_vars, x)
  changed = jax.tree.map(lambda a, b: bool(jnp.any(a != b)),
                         fast_scnn_vars['batch_stats'], updates['batch_stats'])
  assert all(jax.tree.leaves(changed))
  apply = jax.jit(model.apply)
  np.testing.assert_array_equal(apply(fast_scnn_vars, x)['logits'],
                                apply(fast_scnn_vars, x)['logits'])


def test_create_errors():
  with pytest.raises(ValueError, match='fast_scnn'):
    models.create('unet', 19)
  with pytest.raises(TypeError, match='aux_head'):
    models.create('fast_scnn', 19, aux_head=True)
  with pytest.raises(ValueError, match='resnet50'):
    models.create('deeplabv3plus', 19, backbone='resnet5')
  assert models.create('pspnet', 19, dtype='bfloat16').dtype == jnp.bfloat16


@pytest.mark.parametrize('strides,dilation,size', [(1, 1, (9, 14)), (2, 1, (9, 14)),
                                                   (2, 1, (10, 15)), (1, 2, (11, 8))])
def test_depthwise_conv_equals_grouped_conv(strides, dilation, size):
  x = jax.random.normal(jax.random.key(0), (2, *size, 6))
  grouped = nn.Conv(6, (3, 3), strides=strides, kernel_dilation=dilation,
                    padding=[(dilation, dilation)] * 2, feature_group_count=6,
                    use_bias=False)
  params = grouped.init(jax.random.key(1), x)
  ours = conv.DepthwiseConv(3, strides, dilation)
  np.testing.assert_allclose(ours.apply(params, x), grouped.apply(params, x),
                             rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('strides,dilation,size', [(1, 1, (9, 14)), (2, 1, (9, 14)),
                                                   (2, 1, (10, 15)), (1, 2, (11, 8))])
def test_depthwise_conv_gradients_equal_grouped_conv(strides, dilation, size):
  x = jax.random.normal(jax.random.key(0), (2, *size, 6))
  kernel = jax.random.normal(jax.random.key(1), (3, 3, 1, 6))
  grouped = lambda x, w: jax.lax.conv_general_dilated(
      x, w, (strides, strides), [(dilation, dilation)] * 2, rhs_dilation=(dilation, dilation),
      dimension_numbers=('NHWC', 'HWIO', 'NHWC'), feature_group_count=6)
  ours = lambda x, w: conv.depthwise_conv(x, w, strides, dilation)
  cotangent = jax.random.normal(jax.random.key(2), grouped(x, kernel).shape)
  loss = lambda f: (lambda x, w: jnp.sum(f(x, w) * cotangent))
  for got, want in zip(jax.grad(loss(ours), (0, 1))(x, kernel),
                       jax.grad(loss(grouped), (0, 1))(x, kernel)):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
