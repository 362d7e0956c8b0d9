"""The train state, the model a config names, and a run's weights back from its workdir.

  TrainState             what a checkpoint holds: step, images seen, params, batch
                         stats and optimizer state (the step fixes the data position);
                         OnlineTrainState adds online self-training's EMA teacher
  create_train_state     a fresh state on every device, optionally with a pretrained
                         backbone (models/convert_torch.py)
  init_from_checkpoint   another run's weights where shapes match (train.init_from,
                         finetuning; paper section 3.4)
  restore                a run's model, variables and step, from its config.json and
                         checkpoints: what evaluation and pseudo labelling start from
"""
import os

from absl import logging
from etils import epath
import flax
import jax
import jax.numpy as jnp
import optax

from stseg_jax import checkpoints
from stseg_jax import errors
from stseg_jax import models
from stseg_jax import sharding
from stseg_jax import workdir as workdir_lib
from stseg_jax.models import convert_torch


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  images_seen: jax.Array
  params: dict
  batch_stats: dict
  opt_state: optax.OptState

  @property
  def variables(self):
    """What the model applies: params and batch stats."""
    return {'params': self.params, 'batch_stats': self.batch_stats}


@flax.struct.dataclass
class OnlineTrainState(TrainState):
  """The state of online self-training: also its EMA teacher's {'params',
  'batch_stats'} (online.py). A class of its own, so that every other run's
  checkpoint keeps exactly TrainState's arrays (and older ones restore)."""
  ema: dict = None


def _init_variables(model, rng):
  return model.init(rng, jnp.zeros((1, 64, 64, 3), jnp.float32), train=False)


def create_train_state(model, tx, rng, mesh, pretrained='', backbone=None):
  """Initialises the replicated train state (on every device, no transfer);
  `pretrained`: a torchvision/timm backbone file."""
  def init(rng):
    variables = _init_variables(model, rng)
    params = variables['params']
    return TrainState(step=jnp.zeros((), jnp.int32), images_seen=jnp.zeros((), jnp.int32),
                      params=params, batch_stats=variables.get('batch_stats', {}),
                      opt_state=tx.init(params))
  state = jax.jit(init, out_shardings=sharding.replicated(mesh))(rng)
  if pretrained:
    variables = convert_torch.load_pretrained_backbone(state.variables, pretrained, arch=backbone)
    variables = jax.device_put(variables, sharding.replicated(mesh))
    state = state.replace(params=variables['params'], batch_stats=variables['batch_stats'])
  return state


def init_from_checkpoint(state, workdir, mesh):
  """Params and batch stats from another run's latest checkpoint, step and optimizer fresh.

  A leaf whose shape differs there (the classifier of a model trained for other
  classes, paper section 3.4) or that it lacks keeps its fresh initialisation.
  """
  workdir = os.path.expanduser(workdir)
  if not (epath.Path(workdir) / 'checkpoints').is_dir():
    raise FileNotFoundError(f'config.train.init_from: no checkpoints in {workdir!r}')
  params, batch_stats, step = checkpoints.load_variables(workdir, sharding.replicated(mesh))
  kept = []

  def merge(fresh, loaded):
    fresh_flat = flax.traverse_util.flatten_dict(flax.core.unfreeze(fresh), sep='/')
    loaded_flat = flax.traverse_util.flatten_dict(flax.core.unfreeze(loaded), sep='/')
    merged = {}
    for key, value in fresh_flat.items():
      other = loaded_flat.get(key)
      if other is not None and other.shape == value.shape:
        merged[key] = other.astype(value.dtype)
      else:
        merged[key] = value
        kept.append(key)
    return flax.traverse_util.unflatten_dict(merged, sep='/')

  state = state.replace(params=merge(state.params, params),
                        batch_stats=merge(state.batch_stats, batch_stats))
  logging.info('Initialised from %s step %d; fresh: %s', workdir, step, kept or 'nothing')
  return state


def restore(workdir, num_classes, mesh, step=None):
  """(model, variables, step) of a training run, for inference on `mesh`.

  The model is the one the run trained (WORKDIR/config.json), for
  `num_classes` classes (those of the data it will predict); the variables
  are checkpoint `step`'s (default: the latest), replicated over `mesh`.
  ConfigError if that checkpoint does not fit the model (another class count).
  """
  config = workdir_lib.saved_config(workdir)
  if config is None:
    raise FileNotFoundError(f'{workdir}: no config.json, so not the workdir of a training run')
  model = models.from_config(config.model, num_classes)
  params, batch_stats, step = checkpoints.load_variables(
      workdir, sharding.replicated(mesh), step)
  variables = {'params': params, 'batch_stats': batch_stats}
  wanted = jax.eval_shape(lambda: _init_variables(model, jax.random.key(0)))
  diffs = checkpoints.differences(
      variables, {'params': wanted['params'], 'batch_stats': wanted.get('batch_stats', {})})
  if diffs:
    raise errors.ConfigError(
        f'{workdir}: checkpoint step {step} does not fit its {config.model.name} with '
        f'{num_classes} classes ({len(diffs)} arrays differ, e.g. {"; ".join(diffs[:3])}): '
        'predict data with the classes it was trained on')
  return model, variables, step
