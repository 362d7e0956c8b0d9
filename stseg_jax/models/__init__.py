"""Segmentation models, built by name with `create`."""

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from stseg_jax.models import layers
from stseg_jax.models.deeplabv3plus import DeepLabV3Plus
from stseg_jax.models.fast_scnn import FastSCNN
from stseg_jax.models.pspnet import PSPNet

MODELS = {
    'deeplabv3plus': DeepLabV3Plus,
    'pspnet': PSPNet,
    'fast_scnn': FastSCNN,
}


def create(name: str, num_classes: int, **options) -> nn.Module:
  """Builds model `name`; options are its fields (backbone, dtype, ...)."""
  if name not in MODELS:
    raise ValueError(f'Unknown model {name!r}; valid names: {sorted(MODELS)}')
  cls = MODELS[name]
  valid = {f.name for f in dataclasses.fields(cls)} - {'parent', 'name'}
  for key in options:
    if key not in valid:
      raise TypeError(f'Model {name!r} has no option {key!r}; '
                      f'valid options: {sorted(valid - {"num_classes"})}')
  backbone = options.get('backbone')
  if isinstance(backbone, str) and backbone not in layers.BACKBONES:
    # Fail here rather than at the first init, far from the config.
    raise ValueError(f'Unknown backbone {backbone!r}; '
                     f'valid: {sorted(layers.BACKBONES)}')
  if isinstance(options.get('dtype'), str):
    # jnp.dtype raises a clear TypeError on names like 'bf16'.
    options['dtype'] = jnp.dtype(options['dtype'])
  return cls(num_classes=num_classes, **options)


def param_count(variables) -> int:
  """Number of trainable parameters (the 'params' collection only)."""
  params = variables.get('params', variables)
  return sum(int(np.prod(p.shape)) for p in jax.tree.leaves(params))
