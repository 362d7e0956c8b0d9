"""Evaluates a checkpoint on a split: WORKDIR/eval*.json.

eval.json is only ever the run's final result (its last step on its eval
split). Other data (another split, dataset or domain) writes
WORKDIR/eval_<what differs>.json (eval_train.json, eval_B_val.json), and
another checkpoint step adds _step_<N> (eval_step_16.json).

  python -m stseg_jax.evaluate --config=configs/synthetic_fastscnn.py --workdir=/tmp/demo \
      [--checkpoint_step=N]
"""
import dataclasses
import json
import os

from absl import flags
from absl import logging
from etils import epath
import jax
import jax.numpy as jnp
from jax.experimental import multihost_utils
import ml_collections
import numpy as np

from stseg_jax import cli
from stseg_jax import config_check
from stseg_jax import inference
from stseg_jax import instance_metrics
from stseg_jax import metrics
from stseg_jax import sharding
from stseg_jax import train_state
from stseg_jax import visualize
from stseg_jax.data import pipeline
from stseg_jax.data import sources

class Evaluator:
  """Confusion matrix over a split, accumulated on device across batches.

  With a source that carries Cityscapes instance ids (`instances=True` in
  sources.open_source) the result adds iIoU and the category scores, from
  the same predictions brought to the host (instance_metrics.py). `eval_config`
  and `inference_config` are config.eval and config.inference.
  """

  def __init__(self, model, source, mesh, eval_config, inference_config):
    self.model, self.source, self.mesh = model, source, mesh
    self.eval_config, self.recipe = eval_config, inference.InferenceConfig.from_config(
        inference_config)
    self.instances = getattr(source, 'with_instances', False)
    num_classes = source.num_classes

    def eval_step(params, batch_stats, batch):
      logits = inference.predict_logits(model, {'params': params, 'batch_stats': batch_stats},
                              batch['image'])
      prediction = jnp.argmax(logits, -1).astype(jnp.uint8)
      cm = metrics.confusion_matrix(prediction, batch['label'], num_classes)
      return cm, prediction

    replicated = sharding.replicated(mesh)
    data = sharding.data_sharding(mesh)
    self._step = jax.jit(eval_step, in_shardings=(replicated, replicated, data),
                         out_shardings=(replicated, data))

  @property
  def batch_size(self):
    """The eval batch, rounded up to a multiple of the device count."""
    n = jax.device_count()
    return -(-self.eval_config.batch_size // n) * n

  def run(self, variables):
    """Metrics of the model with `variables` (params, batch_stats) over the split."""
    recipe = self.recipe
    accumulator = instance_metrics.InstanceAccumulator() if self.instances else None
    if recipe.tile_size is None and recipe.scales == (1.0,) and not recipe.flip:
      cm = self._whole_images(variables, accumulator)
    else:
      cm = self._with_recipe(variables, recipe, accumulator)
    result = metrics.summarize(cm, self.source.class_names)
    if accumulator is not None:
      result.update(_summed_over_processes(accumulator).result())
    result['num_images'] = self._num_images()
    result['inference'] = dataclasses.asdict(recipe)
    return result

  def save_examples(self, variables, directory, num_images):
    """Colourised predictions of the first eval images as PNGs (visualize.py).

    Whole-image predictions whatever the inference recipe: a quick look, not
    the scored output. Every process runs the step; process 0 writes.
    """
    n = min(num_images, self._num_images(), self.batch_size // jax.process_count())
    if n <= 0:
      return []
    local_batch = next(pipeline.eval_batches(self.source, self.batch_size, n))
    global_batch = sharding.to_global(
        {k: local_batch[k] for k in ('image', 'label')}, self.mesh)
    _, prediction = self._step(variables['params'], variables['batch_stats'], global_batch)
    prediction = _local_rows(prediction)[:n]
    if jax.process_index() != 0:
      return []
    ids = [self.source[i]['id'] for i in range(n)]
    return visualize.save_examples(directory, local_batch['image'][:n], prediction, ids,
                                   visualize.palette_of(self.source), local_batch['label'][:n])

  def _num_images(self):
    limit = self.eval_config.max_images
    return min(len(self.source), limit) if limit else len(self.source)

  def _with_recipe(self, variables, recipe, accumulator):
    """Tiled / multi-scale / flipped predictions, image by image (inference.py).

    Each process predicts its share of the images on its own devices; the
    confusion matrices are summed over processes.
    """
    mesh = sharding.make_mesh(jax.local_devices())
    predictor = inference.Predictor(self.model, variables, mesh, recipe, self.source.num_classes)
    c = self.source.num_classes
    cm = np.zeros((c, c), np.int64)
    for i in range(jax.process_index(), self._num_images(), jax.process_count()):
      example = self.source[i]
      label, _ = predictor.predict(example['image'])
      cm += np.asarray(metrics.confusion_matrix(label, example['label'], c))
      if accumulator is not None:
        accumulator.add(np.asarray(label), example['label'], example['instance'])
    return np.asarray(multihost_utils.process_allgather(cm)).reshape(-1, c, c).sum(0) \
        if jax.process_count() > 1 else cm

  def _whole_images(self, variables, accumulator):
    cm = None
    batches = pipeline.eval_batches(self.source, self.batch_size,
                                    self.eval_config.max_images or None)
    for local_batch in batches:
      global_batch = sharding.to_global(
          {k: local_batch[k] for k in ('image', 'label')}, self.mesh)
      batch_cm, prediction = self._step(variables['params'], variables['batch_stats'],
                                        global_batch)
      cm = batch_cm if cm is None else cm + batch_cm
      if accumulator is not None:  # padding rows are ignore labels without instances
        accumulator.add(_local_rows(prediction), local_batch['label'], local_batch['instance'])
    return jax.device_get(cm)


def _local_rows(array):
  """This process's rows of a batch-sharded global array, in batch order."""
  shards = sorted(array.addressable_shards, key=lambda s: s.index[0].start or 0)
  rows, seen = [], set()
  for shard in shards:  # a replicated trailing axis could repeat a row range
    start = shard.index[0].start or 0
    if start not in seen:
      seen.add(start)
      rows.append(np.asarray(shard.data))
  return np.concatenate(rows)


def _summed_over_processes(accumulator):
  """The accumulator with every process's sums (each saw its share of images)."""
  if jax.process_count() == 1:
    return accumulator
  for name in ('confusion', 'class_tp_w', 'class_fn_w', 'category_tp_w', 'category_fn_w'):
    value = getattr(accumulator, name)
    gathered = multihost_utils.process_allgather(value.astype(np.float32))
    setattr(accumulator, name,
            np.asarray(gathered, np.float64).reshape(-1, *value.shape).sum(0).astype(value.dtype))
  return accumulator


def write_result(workdir, result, config, step, final=False):
  """WORKDIR/eval.json (see `result_file` for other data and steps): the metrics plus
  what was evaluated; `final`: the result of the run's last step."""
  result.update(split=config.data.eval_split, dataset=config.data.name,
                checkpoint_step=int(step))
  if jax.process_index() == 0:
    name = result_file(workdir, config.data, None if final else step)
    (epath.Path(workdir) / name).write_text(json.dumps(result, indent=1))


def result_file(workdir, data, step=None):
  """eval.json: the run's final result, on the data it evaluates on while training.

  Other data gets eval_<what differs>.json (eval_train.json, eval_B_val.json), and
  another `step` than the one eval.json holds (an earlier checkpoint, a run not
  finished) gets _step_<step> too (eval_step_16.json), so that no evaluation
  ever replaces the run's final result.
  """
  try:
    own = json.loads((epath.Path(workdir) / 'config.json').read_text())['data']
  except (OSError, ValueError, KeyError):
    own = {}
  differs = [data.get(key) for key in ('name', 'domain')
             if own and data.get(key) and data.get(key) != own.get(key)]
  if differs or (own and data.eval_split != own.get('eval_split')):
    differs.append(data.eval_split)
  if step is not None and step != _final_step(workdir):
    differs.append(f'step_{step}')
  return '_'.join(['eval'] + differs) + '.json'


def _final_step(workdir):
  """The step of the run's final result (eval.json), or None before it exists."""
  try:
    return json.loads((epath.Path(workdir) / 'eval.json').read_text()).get('checkpoint_step')
  except (OSError, ValueError):
    return None


def on_split(config, split):
  """A copy of `config` that evaluates on `split`."""
  c = ml_collections.ConfigDict(config.to_dict())
  c.data.eval_split = split
  return c


def saved_result(workdir, config, step):
  """The result of `config`'s eval split already in `workdir` for checkpoint `step`
  with `config`'s inference recipe, or None."""
  path = epath.Path(workdir) / result_file(workdir, config.data, step)
  try:
    result = json.loads(path.read_text())
  except (OSError, ValueError):
    return None
  recipe = dataclasses.asdict(inference.InferenceConfig.from_config(config.inference))
  same_recipe = json.loads(json.dumps(recipe)) == result.get('inference')
  return result if result.get('checkpoint_step') == step and same_recipe else None


def score_held_out(model, variables, mesh, config, workdir, step):
  """Scores the model on config.data.test_split (if any) into WORKDIR/eval_<split>.json,
  unless that checkpoint step is scored there already; the result or None."""
  if not config.data.test_split:
    return None
  test = on_split(config, config.data.test_split)
  result = saved_result(workdir, test, step)
  if result is None:
    source = sources.open_source(test.data, test.data.eval_split)
    result = Evaluator(model, source, mesh, test.eval, test.inference).run(variables)
    write_result(workdir, result, test, step, final=True)
    logging.info('step %d on held-out %s: mIoU %.4f', step, test.data.eval_split, result['miou'])
  return result


def evaluate_checkpoint(config, workdir, checkpoint_step=None, reuse=False):
  """Evaluates the model of `workdir` (the one it trained, at `checkpoint_step`,
  default the latest) on `config`'s eval split, as `config` says to; with
  `reuse`, a result already written for that step and recipe is read instead."""
  config_check.validate(config)
  mesh = sharding.make_mesh()
  source = sources.open_source(config.data, config.data.eval_split,
                               instances=config.eval.instance_metrics)
  model, variables, step = train_state.restore(workdir, source.num_classes, mesh, checkpoint_step)
  if reuse and (saved := saved_result(workdir, config, step)) is not None:
    return saved
  evaluator = Evaluator(model, source, mesh, config.eval, config.inference)
  result = evaluator.run(variables)
  write_result(workdir, result, config, step)
  name = os.path.splitext(result_file(workdir, config.data))[0]  # eval, eval_B_val, ...
  evaluator.save_examples(variables, os.path.join(workdir, 'visuals', f'{name}_step_{step}'),
                          config.eval.num_visuals)
  logging.info('step %d on %s/%s: mIoU %.4f, pixel accuracy %.4f', step,
               config.data.name, config.data.eval_split, result['miou'],
               result['pixel_accuracy'])
  return result


if __name__ == '__main__':
  flags.DEFINE_integer('checkpoint_step', None, 'Step to evaluate; default latest.')
  cli.run(lambda config, workdir: evaluate_checkpoint(config, workdir, flags.FLAGS.checkpoint_step),
          'Workdir of the training run.')
