"""Converts torchvision/timm ResNet(-Xt) and WRN38 state dicts to Flax.

Reads a .pth/.pt/.tar (needs torch) or an .npz of the same tensors (no torch),
so weights can be converted once on a machine with torch:

  python -m stseg_jax.models.convert_torch resnet50.pth resnet50.npz

and loaded at init anywhere with `load_pretrained_backbone(variables, path,
arch)`, which replaces the 'backbone' subtree of a segmentation model's
variables after checking every leaf. Layouts: torch conv OIHW -> flax HWIO
(for grouped convs torch's (O, I/g, kh, kw) -> flax (kh, kw, I/g, O), the
same transpose); BN weight/bias/running_mean/running_var -> params scale/bias
and batch_stats mean/var. Classifier heads and num_batches_tracked are dropped.
"""
import re
import sys

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from stseg_jax.models import efficientnet_lite
from stseg_jax.models.resnet import STAGES

ARCH_DEPTH = {'resnet50': 50, 'resnet101': 101, 'resnext50_32x4d': 50}
ARCHS = tuple(ARCH_DEPTH) + ('wideresnet38', 'efficientnet_lite0')


def load_state_dict(path):
  """Reads a torch checkpoint or an .npz into {torch_key: float32 array}."""
  path = str(path)
  if path.endswith('.npz'):
    with np.load(path) as f:
      return {k: f[k] for k in f.files}
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError(
        f'Reading {path} needs torch (pip install -r requirements-torch.txt); '
        'or convert it to .npz on a machine with torch: '
        'python -m stseg_jax.models.convert_torch in.pth out.npz') from e
  sd = torch.load(path, map_location='cpu', weights_only=True)
  # Training checkpoints wrap the weights (NVIDIA's WRN38: 'state_dict').
  for key in ('state_dict', 'model'):
    if isinstance(sd.get(key), dict):
      sd = sd[key]
  return {k: (v.float() if v.is_floating_point() else v).numpy()
          for k, v in sd.items() if isinstance(v, torch.Tensor)}


def _resnet_path(module):
  """'layer2.0.downsample.1' -> ('layer2_0', 'downsample_bn'); None = skip."""
  if module.startswith('fc'):
    return None
  module = re.sub(r'^(layer\d)\.(\d+)', r'\1_\2', module)
  module = module.replace('downsample.0', 'downsample_conv')
  return tuple(module.replace('downsample.1', 'downsample_bn').split('.'))


def _wrn_path(module):
  """'mod2.block1.convs.bn2.0' -> ('mod2_block1', 'bn2'); None = skip."""
  if module.startswith(('bn_out', 'classifier')):
    return None
  module = re.sub(r'^mod(\d)\.', r'mod\1_', module)
  module = module.replace('.convs.', '.')
  return tuple(re.sub(r'\.0$', '', module).split('.'))  # bnrelu's BN is .0


def _convert_flat(state_dict, to_path):
  """{(collection, *flax_path): (array, torch_key)} for the kept tensors."""
  leaf = {'running_mean': ('batch_stats', 'mean'),
          'running_var': ('batch_stats', 'var'), 'bias': ('params', 'bias')}
  flat = {}
  for key, value in state_dict.items():
    key_ = key[len('module.'):] if key.startswith('module.') else key
    module, _, name = key_.rpartition('.')
    path = to_path(module)
    if path is None or name == 'num_batches_tracked':
      continue
    value = np.asarray(value, np.float32)
    if name == 'weight' and value.ndim == 4:
      collection, name, value = 'params', 'kernel', value.transpose(2, 3, 1, 0)
    elif name == 'weight' and value.ndim == 1:
      collection, name = 'params', 'scale'
    elif name in leaf:
      collection, name = leaf[name]
    else:
      raise ValueError(f'Unexpected tensor {key} {value.shape}')
    flat[(collection,) + path + (name,)] = (value, key)
  return flat


def _nest(flat):
  """Flat converted leaves -> {'params': ..., 'batch_stats': ...}."""
  out = traverse_util.unflatten_dict({k: v for k, (v, _) in flat.items()})
  return {'params': out.get('params', {}),
          'batch_stats': out.get('batch_stats', {})}


def _check_depth(state_dict, depth):
  """Raises if the state dict's blocks per layer don't match `depth`."""
  blocks = [0] * 4
  for key in state_dict:
    m = re.match(r'^(?:module\.)?layer(\d)\.(\d+)\.', key)
    if m:
      blocks[int(m[1]) - 1] = max(blocks[int(m[1]) - 1], int(m[2]) + 1)
  if tuple(blocks) != STAGES[depth]:
    raise ValueError(f'State dict has {blocks} blocks per layer; ResNet-{depth}'
                     f' needs {list(STAGES[depth])}')


def torchvision_resnet_to_flax(state_dict, depth=50):
  """torchvision/timm ResNet or ResNeXt state dict -> ResNet's variables."""
  _check_depth(state_dict, depth)
  return _nest(_convert_flat(state_dict, _resnet_path))


def load_pretrained_backbone(variables, path, arch):
  """`variables` with params/batch_stats['backbone'] replaced from `path`."""
  if arch not in ARCHS:
    raise ValueError(f'Unknown arch {arch!r}; expected one of {ARCHS}')
  sd = load_state_dict(path)
  if arch in ARCH_DEPTH:
    _check_depth(sd, ARCH_DEPTH[arch])
  paths = {'wideresnet38': _wrn_path, 'efficientnet_lite0': efficientnet_lite.torch_path}
  flat = _convert_flat(sd, paths.get(arch, _resnet_path))
  target = {}
  for col in ('params', 'batch_stats'):
    if 'backbone' not in variables.get(col, {}):
      raise ValueError(f"variables[{col!r}] has no 'backbone' submodule")
    for k, v in traverse_util.flatten_dict(variables[col]['backbone']).items():
      target[(col,) + k] = v
  for k, v in target.items():
    name = '/'.join(k)
    if k not in flat:
      raise ValueError(f'{path}: no tensor for {name} ({arch})')
    if flat[k][0].shape != v.shape:
      raise ValueError(f'{path}: {flat[k][1]} has shape {flat[k][0].shape}, '
                       f'{name} needs {v.shape} ({arch})')
  extra = sorted(flat[k][1] for k in flat.keys() - target.keys())
  if extra:
    raise ValueError(f'{path}: tensors with no place in {arch}: {extra[:5]}')
  # jnp arrays, like the rest of the tree (orbax and jit treat them alike).
  loaded = jax.tree.map(jnp.asarray, _nest(flat))
  out = dict(variables)
  for col in ('params', 'batch_stats'):
    out[col] = {**variables[col], 'backbone': loaded[col]}
  return out


def main(argv):
  """CLI: python -m stseg_jax.models.convert_torch in.pth out.npz."""
  if len(argv) != 2:
    sys.exit('usage: python -m stseg_jax.models.convert_torch in.pth out.npz')
  sd = load_state_dict(argv[0])
  np.savez(argv[1], **sd)
  print(f'Wrote {len(sd)} tensors to {argv[1]}')


if __name__ == '__main__':
  main(sys.argv[1:])
