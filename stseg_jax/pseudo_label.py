"""Labels an unlabeled set with a teacher; writes sharded TFRecords (paper Fig. 1b).

  python -m stseg_jax.pseudo_label --config=configs/synthetic_fastscnn.py --workdir=DIR \
      --teacher_workdir=TEACHER [--teacher_step=N]

Images are cut into fixed shards of `pseudo_label.images_per_shard`; shard s
goes to process s mod P, which predicts it on its own devices (a single
whole-image pass: one image per device per forward, inference.Predictor.
predict_probs_batch) and writes DIR/pseudo/<name>-<s>-of-<n>.tfrecord
atomically. The file set therefore
doesn't depend on the number of processes, a rerun skips complete shards and
redoes the rest, and when every process is done process 0 writes the
manifest (shards, record counts, teacher, config hash, class names).
"""
import hashlib
import json
import math
import os

from absl import flags
from absl import logging
from etils import epath
import jax
from jax.experimental import multihost_utils
import numpy as np

from stseg_jax import cli
from stseg_jax import config_check
from stseg_jax import errors
from stseg_jax import inference
from stseg_jax import progress as progress_lib
from stseg_jax import sharding
from stseg_jax import train_state
from stseg_jax import visualize
from stseg_jax import workdir as workdir_lib
from stseg_jax.data import centroids
from stseg_jax.data import sources
from stseg_jax.data.pseudo import example as pseudo_example
from stseg_jax.data.pseudo import filters
from stseg_jax.data.pseudo import manifest as pseudo_manifest
from stseg_jax.data.pseudo import records as pseudo_records


def shard_ranges(num_images, images_per_shard):
  """[start, end) image ranges of the shards, in order."""
  n = max(1, math.ceil(num_images / images_per_shard))
  return [(s * images_per_shard, min((s + 1) * images_per_shard, num_images)) for s in range(n)]


def label_image(probs, num_classes, confidence_threshold=0.0, topk=0):
  """From an image's HxWxC class probabilities: its hard label (low-confidence
  pixels ignored if asked), confidence, centroids, and the `topk` most likely
  classes with their probabilities (or None)."""
  label, confidence = probs.argmax(-1).astype(np.uint8), probs.max(-1)
  if confidence_threshold:  # the student's confidence filter, applied when labelling
    keep = filters.confidence_at_least(None, num_classes, confidence_threshold)
    label = filters.apply(label, keep({'label': label, 'confidence': confidence}))
  soft = None
  if topk:
    indices = np.argsort(-probs, axis=-1)[..., :topk]
    soft = (indices, np.take_along_axis(probs, indices, axis=-1))
  # Every region's centroid and size: the student's sampler sets its own
  # size minimum (config.pseudo.centroid_min_pixels) without relabelling.
  return label, confidence, centroids.regions_by_class(label, num_classes), soft


def _labelled(predictor, source, taught, indices, config, workdir):
  """(example, label_image's outputs) of the images at `indices`, predicted
  predictor.images_per_batch at a time; the first eval.num_visuals are also
  saved as pictures (visualize.py)."""
  p = config.pseudo_label
  indices = list(indices)
  for start in range(0, len(indices), predictor.images_per_batch):
    batch = [source[i] for i in indices[start:start + predictor.images_per_batch]]
    all_probs = predictor.predict_probs_batch([example['image'] for example in batch])
    for i, example, probs in zip(indices[start:], batch, all_probs):
      labelled = label_image(probs, taught.num_classes, p.confidence_threshold, p.soft_topk)
      if i < config.eval.num_visuals:
        visualize.save_examples(os.path.join(workdir, 'visuals'), [example['image']],
                                [labelled[0]], [example['id']], visualize.palette_of(taught))
      yield example, labelled


def config_hash(config):
  return hashlib.sha256(config.to_json(sort_keys=True).encode()).hexdigest()[:16]


def provenance(config, teacher_workdir, step, variables):
  """What makes these labels these labels: the teacher (its workdir, step and a
  digest of its weights) and the labelling recipe (settings, unlabeled data)."""
  digest = hashlib.sha256()
  for leaf in jax.tree.leaves(jax.device_get(variables)):
    digest.update(np.ascontiguousarray(leaf).tobytes())
  return {'teacher': {'workdir': workdir_lib.absolute(teacher_workdir, resolve_links=True),
                      'step': int(step),
                      'weights_sha256': digest.hexdigest()[:16]},
          'recipe': {'pseudo_label': config.pseudo_label.to_dict(),
                     'data': sources.unlabeled_data_config(config.data, config.unlabeled).to_dict(),
                     'split': config.unlabeled.split}}


def _differences(a, b, prefix=''):
  if isinstance(a, dict) and isinstance(b, dict):
    return [d for k in sorted(set(a) | set(b))
            for d in _differences(a.get(k), b.get(k), f'{prefix}{k}.')]
  return [] if a == b else [f'{prefix[:-1]}: {a!r} -> {b!r}']


def claim(out_dir, name, made_by):
  """Ties DIR/pseudo/<name> to `made_by` (provenance) before any shard is written.

  A labels folder holds one teacher's labels made one way: a rerun with
  another teacher or recipe would skip the shards already there and mix two
  sets under one manifest. So the first job writes <name>.provenance.json,
  and a later one that differs stops, naming what differs.
  """
  path = epath.Path(out_dir) / f'{name}.provenance.json'
  if path.exists():
    found = json.loads(path.read_text())
    # JSON turns tuples into lists: compare in JSON form.
    diffs = _differences(found, json.loads(json.dumps(made_by)))
    if diffs:
      raise errors.ConfigError(
          f'{out_dir} holds pseudo labels of another teacher or recipe ({"; ".join(diffs[:4])}): '
          'label into another workdir, or delete that folder to relabel')
  multihost_utils.sync_global_devices('pseudo_label: provenance checked')
  if jax.process_index() == 0 and not path.exists():
    workdir_lib.write_json(path, made_by, indent=1)
  multihost_utils.sync_global_devices('pseudo_label: provenance written')


def run(config, workdir, teacher_workdir, teacher_step=None):
  """Writes this process's shards, then (process 0) the manifest."""
  config_check.validate(config)
  out_dir = os.path.join(workdir, 'pseudo')
  epath.Path(out_dir).mkdir(parents=True, exist_ok=True)
  p = config.pseudo_label
  source = sources.open_source(sources.unlabeled_data_config(config.data, config.unlabeled), config.unlabeled.split,
                               labels=False)
  # The teacher predicts the classes it was taught (config.data's), whatever
  # classes the unlabeled set's own labels have: they are never read (e.g.
  # Mapillary's 65 under a 19-class Cityscapes teacher).
  taught = sources.open_source(config.data, config.data.eval_split, labels=False)
  # Each process predicts its own shards on its own devices: no collectives.
  mesh = sharding.make_mesh(jax.local_devices())
  model, variables, step = train_state.restore(teacher_workdir, taught.num_classes, mesh,
                                         teacher_step)
  # The labelling recipe (pseudo_label.inference: the paper's is multi-scale
  # and flipped), apart from how models are scored (config.inference).
  predictor = inference.Predictor(model, variables, mesh,
                                  inference.InferenceConfig.from_config(p.inference),
                                  taught.num_classes)
  made_by = provenance(config, teacher_workdir, step, variables)
  claim(out_dir, p.name, made_by)
  ranges = shard_ranges(len(source), p.images_per_shard)
  paths = [os.path.join(out_dir, pseudo_records.shard_name(p.name, s, len(ranges)))
           for s in range(len(ranges))]
  mine = range(jax.process_index(), len(ranges), jax.process_count())
  todo = [s for s in mine
          if not pseudo_records.shard_is_complete(paths[s], ranges[s][1] - ranges[s][0])]
  if len(todo) < len(mine):
    logging.info('%d of %d shards already complete, skipped', len(mine) - len(todo), len(mine))
  progress, images = progress_lib.Progress(len(todo), lines=10), 0
  for shard in todo:
    records = [pseudo_example.encode_example(
        example['id'], example.get('path', ''), label, teacher_step=step,
        confidence=confidence if p.store_confidence else None, topk=soft, centroids=found)
               for example, (label, confidence, found, soft)
               in _labelled(predictor, source, taught, range(*ranges[shard]), config, workdir)]
    pseudo_records.write_shard(paths[shard], records)
    images += len(records)
    progress.advance(progress.done + 1)
    if progress.show:
      logging.info('pseudo labels: %d of %d shards (%d images) in %.0f s, ETA %.0f s',
                   progress.done, progress.total, images, progress.elapsed, progress.eta)
  multihost_utils.sync_global_devices('pseudo_label: shards written')
  if jax.process_index() == 0:
    manifest = pseudo_manifest.Manifest(
        name=p.name, class_names=tuple(taught.class_names), teacher=made_by['teacher'],
        config_hash=config_hash(config), soft_topk=p.soft_topk,
        source={'data': sources.unlabeled_data_config(config.data, config.unlabeled).to_dict(),
                'split': config.unlabeled.split, 'num_images': len(source)},
        shards=tuple({'file': pseudo_records.shard_name(p.name, s, len(ranges)),
                      'records': end - begin, 'start': begin}
                     for s, (begin, end) in enumerate(ranges)))
    pseudo_manifest.write_manifest(out_dir, manifest)
    logging.info('Wrote %d pseudo labels in %d shards to %s', len(source), len(ranges),
                 out_dir)
  return out_dir


if __name__ == '__main__':
  flags.DEFINE_string('teacher_workdir', None, 'Workdir of the teacher run.')
  flags.DEFINE_integer('teacher_step', None, 'Teacher checkpoint; default latest.')
  cli.run(lambda config, workdir: run(config, workdir, flags.FLAGS.teacher_workdir,
                                      flags.FLAGS.teacher_step),
          'Where DIR/pseudo goes.', required=('teacher_workdir',))
