"""Evaluates a checkpoint on a split and writes WORKDIR/eval.json.

  python -m stseg_jax.evaluate --config=configs/demo.py --workdir=/tmp/demo \
      [--checkpoint_step=N]
"""
import dataclasses
import json
import os

from absl import app
from absl import flags
from absl import logging
import jax
import jax.numpy as jnp
from jax.experimental import multihost_utils
import numpy as np

from stseg_jax import distributed
from stseg_jax import inference
from stseg_jax import metrics
from stseg_jax import sharding
from stseg_jax.data import pipeline

# ImageNet statistics: the pretrained backbones expect them.
MEAN = np.array([0.485, 0.456, 0.406], np.float32) * 255
STD = np.array([0.229, 0.224, 0.225], np.float32) * 255


def normalize(images, dtype=jnp.float32):
  """uint8 NHWC images to normalised floats, on device."""
  return ((images.astype(jnp.float32) - MEAN) / STD).astype(dtype)


def predict_logits(model, variables, images):
  return model.apply(variables, normalize(images, model.dtype), train=False)['logits']


class Evaluator:
  """Confusion matrix over a split, accumulated on device across batches."""

  def __init__(self, model, source, mesh, config):
    self.model, self.source, self.mesh, self.config = model, source, mesh, config
    num_classes = source.num_classes
    ignore = config.augment.ignore_label

    def eval_step(params, batch_stats, batch):
      logits = predict_logits(model, {'params': params, 'batch_stats': batch_stats},
                              batch['image'])
      return metrics.confusion_matrix(jnp.argmax(logits, -1), batch['label'],
                                      num_classes, ignore)

    replicated = sharding.replicated(mesh)
    self._step = jax.jit(
        eval_step, in_shardings=(replicated, replicated, sharding.data_sharding(mesh)),
        out_shardings=replicated)

  @property
  def batch_size(self):
    """The eval batch, rounded up to a multiple of the device count."""
    n = jax.device_count()
    return -(-self.config.eval.batch_size // n) * n

  def run(self, state):
    recipe = inference.InferenceConfig.from_config(self.config.inference)
    if recipe.tile_size is None and recipe.scales == (1.0,) and not recipe.flip:
      cm = self._whole_images(state)
    else:
      cm = self._with_recipe(state, recipe)
    result = metrics.summarize(cm, self.source.class_names)
    result['num_images'] = self._num_images()
    result['inference'] = dataclasses.asdict(recipe)
    return result

  def _num_images(self):
    limit = self.config.eval.max_images
    return min(len(self.source), limit) if limit else len(self.source)

  def _with_recipe(self, state, recipe):
    """Tiled / multi-scale / flipped predictions, image by image (inference.py).

    Each process predicts its share of the images on its own devices; the
    confusion matrices are summed over processes.
    """
    mesh = sharding.make_mesh(jax.local_devices())
    predictor = inference.Predictor(
        self.model, {'params': state.params, 'batch_stats': state.batch_stats}, mesh,
        recipe, self.source.num_classes)
    c = self.source.num_classes
    cm = np.zeros((c, c), np.int64)
    for i in range(jax.process_index(), self._num_images(), jax.process_count()):
      example = self.source[i]
      label, _ = predictor.predict(example['image'])
      cm += np.asarray(metrics.confusion_matrix(label, example['label'], c,
                                                self.config.augment.ignore_label))
    return np.asarray(multihost_utils.process_allgather(cm)).reshape(-1, c, c).sum(0) \
        if jax.process_count() > 1 else cm

  def _whole_images(self, state):
    cm = None
    batches = pipeline.eval_batches(self.source, self.batch_size,
                                    self.config.eval.max_images or None)
    for local_batch in batches:
      batch_cm = self._step(state.params, state.batch_stats,
                            sharding.to_global(local_batch, self.mesh))
      cm = batch_cm if cm is None else cm + batch_cm
    return jax.device_get(cm)


def write_result(workdir, result, config, step):
  """WORKDIR/eval.json: the metrics plus what was evaluated."""
  result.update(split=config.data.eval_split, dataset=config.data.name,
                checkpoint_step=int(step))
  if jax.process_index() == 0:
    with open(os.path.join(workdir, 'eval.json'), 'w') as f:
      json.dump(result, f, indent=1)


def evaluate_checkpoint(config, workdir, checkpoint_step=None):
  """Restores a checkpoint of `workdir` and evaluates it on the eval split."""
  from stseg_jax import checkpoints, config_check, optim, train  # pylint: disable=g-import-not-at-top
  from stseg_jax.data import sources  # pylint: disable=g-import-not-at-top
  config_check.validate(config)
  mesh = sharding.make_mesh()
  source = sources.open_source(config.data, config.data.eval_split)
  model = train.create_model(config.model, source.num_classes)
  tx = optim.sgd_direction(config.train.momentum, config.train.weight_decay)
  state = train.create_train_state(model, tx, jax.random.key(0), mesh)
  mngr = checkpoints.manager(workdir)
  step = checkpoint_step if checkpoint_step is not None else mngr.latest_step()
  if step is None:
    raise FileNotFoundError(f'--workdir: no checkpoint in {workdir}/checkpoints')
  state = checkpoints.restore(mngr, checkpoints.abstract(state), step)
  result = Evaluator(model, source, mesh, config).run(state)
  write_result(workdir, result, config, step)
  logging.info('step %d on %s/%s: mIoU %.4f, pixel accuracy %.4f', step,
               config.data.name, config.data.eval_split, result['miou'],
               result['pixel_accuracy'])
  return result


FLAGS = flags.FLAGS


def main(argv):
  del argv
  from stseg_jax import config_check  # pylint: disable=g-import-not-at-top
  distributed.initialize()
  config_check.run_or_exit(lambda: evaluate_checkpoint(
      FLAGS.config, FLAGS.workdir, FLAGS.checkpoint_step))


if __name__ == '__main__':
  from ml_collections import config_flags  # pylint: disable=g-import-not-at-top
  config_flags.DEFINE_config_file('config', None, 'Config file.', lock_config=True)
  flags.DEFINE_string('workdir', None, 'Workdir of the training run.')
  flags.DEFINE_integer('checkpoint_step', None, 'Step to evaluate; default latest.')
  flags.mark_flags_as_required(['config', 'workdir'])
  from stseg_jax import config_check  # pylint: disable=g-import-not-at-top
  app.run(main, flags_parser=config_check.parse_flags)
