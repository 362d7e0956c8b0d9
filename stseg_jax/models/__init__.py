"""Segmentation models, built by name with `create`; `normalize` prepares their input."""

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from stseg_jax.models import layers
from stseg_jax.models.deeplabv3plus import DeepLabV3Plus
from stseg_jax.models.fast_scnn import FastSCNN
from stseg_jax.models.pspnet import PSPNet

# ImageNet statistics on the 0-255 scale: the pretrained backbones expect them.
MEAN = np.array([0.485, 0.456, 0.406], np.float32) * 255
STD = np.array([0.229, 0.224, 0.225], np.float32) * 255

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


def from_config(model_config, num_classes):
  """config.model's network: `name` picks it, the other fields but `pretrained` are its options."""
  options = {k: v for k, v in model_config.items() if k not in ('name', 'pretrained')}
  return create(model_config.name, num_classes=num_classes, **options)


def normalize(images, dtype=jnp.float32):
  """uint8 NHWC images to the normalised floats every model takes, on device.

  Training, evaluation, inference and the benchmarks all call this one, so
  what a model sees never depends on who feeds it.
  """
  return ((images.astype(jnp.float32) - MEAN) / STD).astype(dtype)


def param_count(variables) -> int:
  """Number of trainable parameters (the 'params' collection only)."""
  params = variables.get('params', variables)
  return sum(int(np.prod(p.shape)) for p in jax.tree.leaves(params))
