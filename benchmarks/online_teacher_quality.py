"""How good are an online student's own labels? Its EMA teacher scored on the unlabeled truth.

  .venv/bin/python benchmarks/online_teacher_quality.py DIR/online/student [--step=N] [--json=OUT]

The online student (stseg_jax/online.py) labels the unlabeled images inside its
train step, so no labels are written for pseudo_quality to score. This reads
the run's checkpoint (its `ema` teacher, and the student beside it), predicts
every image of the run's unlabeled split whole at scale 1 (the weak view
without its random crop), and scores against that split's own truth, which the
run never read: per class, IoU and the share of the truth's pixels kept, for
all pixels and for those at >= `pseudo.online_threshold` confidence (what the
student is taught), plus pixel accuracy and mIoU. With
`pseudo.online_class_keep_fraction` the kept set is the train step's rule
(`online.keep_mask`) applied to one whole image at a time, where the step
applies it to a batch of crops: the per-class floors are the image's.
"""
import argparse
import json
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

# A script in benchmarks/: the repository's packages are one folder up.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from stseg_jax import checkpoints  # pylint: disable=wrong-import-position
from stseg_jax import inference
from stseg_jax import metrics
from stseg_jax import models
from stseg_jax import online
from stseg_jax import sharding
from stseg_jax import workdir as workdir_lib
from stseg_jax.data import sources
from stseg_jax.data.labels import IGNORE_LABEL


def restore(workdir, step, mesh):
  mngr = checkpoints.manager(workdir)
  step = step or mngr.latest_step()
  saved = checkpoints._saved_arrays(mngr, step)  # pylint: disable=protected-access
  target = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype,
                                                       sharding=sharding.replicated(mesh)), saved)
  state = mngr.restore(step, args=ocp.args.StandardRestore(target))
  if 'ema' not in state:
    raise SystemExit(f'{workdir}: checkpoint step {step} has no EMA teacher (not an online run)')
  return state, step


def score(model, variables, source, threshold, class_keep_fraction, num_classes):
  """Confusion matrices of all pixels and of the kept ones, over the source."""

  @jax.jit
  def predict(v, x):
    probs = jax.nn.softmax(inference.predict_logits(model, v, x).astype(jnp.float32), axis=-1)
    return online.keep_mask(probs, jnp.ones(probs.shape[:-1], bool), threshold,
                            class_keep_fraction)

  every = np.zeros((num_classes, num_classes), np.int64)
  kept = np.zeros_like(every)
  for i in range(len(source)):
    item = source[i]
    pred, keep = (np.asarray(a)[0]
                  for a in predict(variables, jnp.asarray(item['image'][None])))
    every += np.asarray(metrics.confusion_matrix(pred, item['label'], num_classes))
    kept += np.asarray(metrics.confusion_matrix(
        pred, np.where(keep, item['label'], IGNORE_LABEL), num_classes))
  return every, kept


def summary(every, kept, class_names):
  out = {}
  for name, cm in (('all', every), ('kept', kept)):
    s = metrics.summarize(cm, class_names)
    out[name] = {'miou': s['miou'], 'pixel_accuracy': s['pixel_accuracy'],
                 'per_class_iou': s['per_class_iou']}
  truth = every.sum(1)
  out['kept_fraction'] = float(kept.sum() / max(every.sum(), 1))
  out['per_class_kept_fraction'] = {n: float(kept.sum(1)[c] / max(truth[c], 1))
                                    for c, n in enumerate(class_names)}
  return out


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('workdir')
  parser.add_argument('--step', type=int, default=0)
  parser.add_argument('--json', default='')
  args = parser.parse_args()
  config = workdir_lib.saved_config(args.workdir)
  mesh = sharding.make_mesh()
  state, step = restore(args.workdir, args.step, mesh)
  source = sources.open_source(sources.unlabeled_data_config(config.data, config.unlabeled),
                               config.unlabeled.split)
  model = models.from_config(config.model, source.num_classes)
  class_keep_fraction = config.pseudo.get('online_class_keep_fraction', 0.0)
  result = {'workdir': args.workdir, 'step': step, 'images': len(source),
            'threshold': config.pseudo.online_threshold,
            'class_keep_fraction': class_keep_fraction}
  for name, variables in (('teacher', state['ema']),
                          ('student', {'params': state['params'],
                                       'batch_stats': state['batch_stats']})):
    every, kept = score(model, variables, source, config.pseudo.online_threshold,
                        class_keep_fraction, source.num_classes)
    result[name] = summary(every, kept, source.class_names)
    print(f"{name}: mIoU {100 * result[name]['all']['miou']:.1f} on all pixels, "
          f"{100 * result[name]['kept']['miou']:.1f} on the "
          f"{100 * result[name]['kept_fraction']:.1f}% kept", flush=True)
  if args.json:
    with open(args.json, 'w') as f:
      json.dump(result, f, indent=1)


if __name__ == '__main__':
  main()
