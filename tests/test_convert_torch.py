"""Checks the torch -> Flax converter against real torchvision models.

The torchvision tests skip (not fake) when torch/torchvision are missing:
pip install -r requirements-torch.txt. The rest needs no torch.
"""
import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from stseg_jax.models import convert_torch
from stseg_jax.models import resnet
from stseg_jax.models.wideresnet38 import WideResNet38


@pytest.fixture(name='tv')
def fixture_tv():
  pytest.importorskip('torch')
  return pytest.importorskip('torchvision')


def torch_resnet(tv, arch, dilate):
  """A torchvision model, random weights and random BN statistics, eval mode."""
  import torch  # pylint: disable=g-import-not-at-top
  torch.manual_seed(0)
  model = getattr(tv.models, arch)(
      weights=None, replace_stride_with_dilation=[False, dilate, dilate])
  with torch.no_grad():
    for m in model.modules():
      if isinstance(m, torch.nn.BatchNorm2d):
        m.weight.uniform_(0.5, 1.5)
        m.bias.normal_(0, 0.1)
        m.running_mean.normal_(0, 0.1)
        m.running_var.uniform_(0.5, 1.5)
  return model.eval()


def torch_features(model, x):
  """layer1..layer4 outputs of a torchvision ResNet, NHWC numpy."""
  import torch  # pylint: disable=g-import-not-at-top
  feats = []
  with torch.no_grad():
    x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
    for name in ('layer1', 'layer2', 'layer3', 'layer4'):
      x = getattr(model, name)(x)
      feats.append(x.permute(0, 2, 3, 1).numpy())
  return feats


def assert_features_close(flax_out, torch_feats):
  for i, ref in enumerate(torch_feats):
    got = np.asarray(flax_out[f'layer{i + 1}'])
    assert got.shape == ref.shape
    # Random weights make feature scales arbitrary: compare relative to them.
    err = np.max(np.abs(got - ref)) / np.max(np.abs(ref))
    print(f'layer{i + 1} relative max error {err:.2e}')
    assert err <= 1e-4, (i + 1, err)


@pytest.mark.parametrize('arch', ['resnet50', 'resnext50_32x4d'])
@pytest.mark.parametrize('output_stride', [32, 8])
def test_matches_torchvision(tv, arch, output_stride):
  import torch  # pylint: disable=g-import-not-at-top
  model = torch_resnet(tv, arch, dilate=output_stride == 8)
  x = np.random.default_rng(0).normal(size=(1, 3, 64, 64)).astype(np.float32)
  ref = torch_features(model, torch.from_numpy(x))
  sd = {k: v.numpy() for k, v in model.state_dict().items()}
  variables = convert_torch.torchvision_resnet_to_flax(sd, depth=50)
  ours = getattr(resnet, arch)(output_stride=output_stride)
  out = jax.jit(ours.apply)(variables, x.transpose(0, 2, 3, 1))
  assert_features_close(out, ref)


def backbone_shapes(model, hw=(64, 64)):
  """Abstract {'params': {'backbone': ...}, ...} like a segmentation model's."""
  v = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1,) + hw + (3,)))
  return {col: {'backbone': tree, 'head': {}} for col, tree in v.items()}


def test_load_pretrained_pth_and_npz(tv, tmp_path):
  import torch  # pylint: disable=g-import-not-at-top
  model = torch_resnet(tv, 'resnext50_32x4d', dilate=True)
  x = np.random.default_rng(1).normal(size=(1, 3, 64, 64)).astype(np.float32)
  ref = torch_features(model, torch.from_numpy(x))
  pth, npz = tmp_path / 'w.pth', tmp_path / 'w.npz'
  # DataParallel-style keys and a checkpoint wrapper must both be undone.
  torch.save({'state_dict': {'module.' + k: v for k, v
                             in model.state_dict().items()}}, pth)
  convert_torch.main([str(pth), str(npz)])
  ours = resnet.resnext50_32x4d(output_stride=8)
  shapes = backbone_shapes(ours)
  for path in (pth, npz):
    loaded = convert_torch.load_pretrained_backbone(shapes, path,
                                                    'resnext50_32x4d')
    assert loaded['params']['head'] == {}
    variables = {col: loaded[col]['backbone']
                 for col in ('params', 'batch_stats')}
    out = jax.jit(ours.apply)(variables, x.transpose(0, 2, 3, 1))
    assert_features_close(out, ref)


# Torch-free tests: a state dict synthesised in torchvision's layout.


def fake_torchvision_state_dict(model):
  """Random tensors under torchvision's keys and OIHW shapes for `model`."""
  v = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
  rng, sd = np.random.default_rng(0), {}
  names = {'kernel': 'weight', 'scale': 'weight', 'bias': 'bias',
           'mean': 'running_mean', 'var': 'running_var'}
  for col in ('params', 'batch_stats'):
    for path, s in traverse_util.flatten_dict(v[col]).items():
      module = '.'.join(path[:-1]).replace('_conv', '.0').replace('_bn', '.1')
      module = re.sub(r'^(layer\d)_', r'\1.', module)
      shape = s.shape[::-1][:2] + s.shape[:2] if len(s.shape) == 4 else s.shape
      sd[f'{module}.{names[path[-1]]}'] = rng.normal(size=shape).astype('f4')
  sd['fc.weight'] = np.zeros((1000, 2048), np.float32)
  sd['bn1.num_batches_tracked'] = np.zeros((), np.int64)
  return sd


def test_converter_layout_without_torch():
  sd = fake_torchvision_state_dict(resnet.resnext50_32x4d())
  v = convert_torch.torchvision_resnet_to_flax(sd, depth=50)
  kernel = v['params']['layer2_0']['conv2']['kernel']
  # Grouped conv: torch (O, I/g, kh, kw) = (256, 8, 3, 3) -> (3, 3, 8, 256).
  assert kernel.shape == (3, 3, 8, 256)
  np.testing.assert_array_equal(kernel, sd['layer2.0.conv2.weight'].transpose(
      2, 3, 1, 0))
  np.testing.assert_array_equal(v['batch_stats']['layer3_0']['downsample_bn'][
      'var'], sd['layer3.0.downsample.1.running_var'])
  np.testing.assert_array_equal(v['params']['bn1']['scale'], sd['bn1.weight'])
  assert 'fc' not in v['params']


def test_load_errors_name_key_and_file(tmp_path):
  sd = fake_torchvision_state_dict(resnet.resnet50())
  path = tmp_path / 'r50.npz'
  np.savez(path, **sd)
  with pytest.raises(ValueError, match='ResNet-101'):
    convert_torch.load_pretrained_backbone(
        backbone_shapes(resnet.resnet101()), path, 'resnet101')
  with pytest.raises(ValueError,
                     match=r'r50\.npz: layer1\.0\.\w+\.\w+ has shape'):
    convert_torch.load_pretrained_backbone(
        backbone_shapes(resnet.resnext50_32x4d()), path, 'resnet50')
  del sd['layer4.2.bn3.running_mean']
  np.savez(path, **sd)
  with pytest.raises(ValueError, match=r'r50\.npz.*layer4_2/bn3/mean'):
    convert_torch.load_pretrained_backbone(
        backbone_shapes(resnet.resnet50()), path, 'resnet50')


def test_load_wideresnet38_names(monkeypatch):
  model = WideResNet38()
  shapes = backbone_shapes(model, hw=(16, 16))
  sd = {}
  names = {'kernel': 'weight', 'scale': 'weight', 'bias': 'bias',
           'mean': 'running_mean', 'var': 'running_var'}
  # NVIDIA's checkpoint: DataParallel prefix, bnrelu = Sequential(BN, ReLU).
  for col in ('params', 'batch_stats'):
    for path, s in traverse_util.flatten_dict(shapes[col]['backbone']).items():
      mod, *rest = path[:-1]
      mod = mod.replace('_', '.')
      if rest and rest[0].startswith('bn'):
        rest = [('' if rest[0] == 'bn1' else 'convs.') + rest[0] + '.0']
      elif rest and rest[0] != 'proj_conv':
        rest = ['convs.' + rest[0]]
      key = '.'.join(['module', mod] + rest + [names[path[-1]]])
      shape = s.shape[::-1][:2] + s.shape[:2] if len(s.shape) == 4 else s.shape
      # A distinct constant per tensor catches swaps; 105M normals are slow.
      sd[key] = np.full(shape, len(sd), np.float32)
  assert 'module.mod7.block1.convs.bn3.0.running_var' in sd
  assert 'module.mod1.conv1.weight' in sd
  sd['module.bn_out.0.weight'] = np.ones(4096, np.float32)
  sd['module.classifier.fc.weight'] = np.zeros((1000, 4096), np.float32)
  # Skip writing a 420 MB file: the .npz path is tested above.
  monkeypatch.setattr(convert_torch, 'load_state_dict', lambda path: sd)
  loaded = convert_torch.load_pretrained_backbone(shapes, 'wrn.pth',
                                                  'wideresnet38')
  np.testing.assert_array_equal(
      loaded['params']['backbone']['mod6_block1']['proj_conv']['kernel'],
      sd['module.mod6.block1.proj_conv.weight'].transpose(2, 3, 1, 0))
  np.testing.assert_array_equal(
      loaded['batch_stats']['backbone']['mod2_block3']['bn2']['mean'],
      sd['module.mod2.block3.convs.bn2.0.running_mean'])
  assert math.prod(loaded['params']['backbone']['mod1_conv1']['kernel'].shape
                   ) == 3 * 3 * 3 * 64


def test_config_option_loads_backbone_at_init(tmp_path):
  """config.model.pretrained fills the segmentation model's backbone at init."""
  import ml_collections  # pylint: disable=g-import-not-at-top
  from stseg_jax import models, optim, sharding, train_state  # pylint: disable=g-import-not-at-top
  sd = fake_torchvision_state_dict(resnet.resnet50(output_stride=16))
  np.savez(tmp_path / 'r50.npz', **sd)
  model_config = ml_collections.ConfigDict(dict(
      name='deeplabv3plus', backbone='resnet50', output_stride=16,
      pretrained=str(tmp_path / 'r50.npz')))
  model = models.from_config(model_config, num_classes=5)
  state = train_state.create_train_state(model, optim.sgd_direction(), jax.random.key(0),
                                       sharding.make_mesh(jax.devices()[:1]),
                                       model_config.pretrained, model_config.backbone)
  np.testing.assert_array_equal(state.params['backbone']['conv1']['kernel'],
                                sd['conv1.weight'].transpose(2, 3, 1, 0))
  np.testing.assert_array_equal(state.batch_stats['backbone']['layer4_2']['bn3']['var'],
                                sd['layer4.2.bn3.running_var'])
