"""How good are a teacher's pseudo labels? Scores them against the ground truth.

  python -m stseg_jax.pseudo_quality --config=configs/camvid_selftrain.py --workdir=DIR/labels

Where the unlabeled images do have labels (a `_unlabeled` split of a labeled
dataset, synthetic scenes), the workflow never reads them; this job does, to
measure what the student will be taught. WORKDIR is a pseudo_label workdir.
Writes WORKDIR/pseudo_quality.json with, for the labels as stored and for each
pixel filter the student can apply (data/pseudo/filters.py: a confidence
threshold, class-balanced thresholds):

- IoU per class and mIoU of the kept pseudo pixels against the truth, pixel
  accuracy, and the share of the truth's pixels kept;
- each class's share of the pixels in the truth and in the pseudo labels
  (a teacher that shrinks thin classes shows here);
- for the centroid index, per minimum region size: how many centroids there
  are and at how many the truth has the centroid's class (where a
  class-uniform crop is centred, is the class there?).
"""
import numpy as np

from stseg_jax import cli
from stseg_jax import errors
from stseg_jax import metrics
from stseg_jax import workdir as workdir_lib
from stseg_jax.data.pseudo import example as pseudo_example
from stseg_jax.data.pseudo import filters
from stseg_jax.data.pseudo import records as pseudo_records
from stseg_jax.data.pseudo import source as pseudo_source

# The filters scored: none, then each of filters.FILTERS at the values the
# student is most often given ({filter name: value}).
VARIANTS = {'all': {}, 'confidence_70': {'confidence': 0.7}, 'confidence_90': {'confidence': 0.9},
            'class_keep_half': {'class_keep': 0.5}}
MIN_PIXELS = (0, 16, 64, 256)


def centroid_hits(data, truth, min_pixels):
  """(centroids, centroids whose pixel in the truth has their class) of one record."""
  total = hits = 0
  for c, yx in pseudo_example.decode_centroids(data, min_pixels).items():
    y = np.clip(np.rint(yx[:, 0]).astype(int), 0, truth.shape[0] - 1)
    x = np.clip(np.rint(yx[:, 1]).astype(int), 0, truth.shape[1] - 1)
    total += len(yx)
    hits += int(np.sum(truth[y, x] == c))
  return total, hits


def score(records, truth_source, class_names):
  n = len(class_names)
  keeps = {name: filters.combined(records, n, spec) for name, spec in VARIANTS.items()}
  cms = {name: np.zeros((n, n), np.int64) for name in VARIANTS}
  truth_pixels, pseudo_pixels = np.zeros(n, np.int64), np.zeros(n, np.int64)
  centroids = {m: [0, 0] for m in MIN_PIXELS}
  if len(records) != len(truth_source):
    raise errors.DataError(f'{records!r}: {len(records)} pseudo labels for '
                           f'{len(truth_source)} labeled images')
  for i in range(len(records)):
    record, truth = records[i], truth_source[i]
    if record['id'] != truth['id']:
      raise errors.DataError(f'{records!r}: pseudo label {i} is of {record["id"]!r}, the '
                             f'labeled source has {truth["id"]!r} there')
    gt = truth['label']
    truth_pixels += np.bincount(gt[gt < n].ravel(), minlength=n)[:n]
    pseudo_pixels += np.bincount(record['label'][record['label'] < n].ravel(), minlength=n)[:n]
    for name, keep in keeps.items():
      label = record['label'] if keep is None else filters.apply(record['label'], keep(record))
      cms[name] += np.asarray(metrics.confusion_matrix(label, gt, n), np.int64)
    data = records.record(i)
    for m in MIN_PIXELS:
      total, hits = centroid_hits(data, gt, m)
      centroids[m][0] += total
      centroids[m][1] += hits
  valid = int(truth_pixels.sum())
  result = {'images': len(records), 'filters': {}, 'class_share': {}, 'centroids': {}}
  for name, cm in cms.items():
    s = metrics.summarize(cm, class_names)
    s.pop('confusion_matrix')
    s['kept_fraction'] = s['num_pixels'] / valid if valid else float('nan')
    s['filter'] = VARIANTS[name]
    result['filters'][name] = s
  for c, name in enumerate(class_names):
    result['class_share'][name] = {'truth': float(truth_pixels[c] / max(valid, 1)),
                                   'pseudo': float(pseudo_pixels[c] / max(pseudo_pixels.sum(), 1))}
  for m, (total, hits) in centroids.items():
    result['centroids'][f'min_pixels_{m}'] = {
        'centroids': total, 'truth_has_the_class': hits / total if total else float('nan')}
  return result


def run(config, workdir):
  directory = f'{workdir}/pseudo'
  records = pseudo_records.PseudoLabelSource(directory, config.pseudo_label.name)
  if 'confidence' not in records[0]:
    raise errors.ConfigError(f'{directory}: no stored confidences (label with '
                             'pseudo_label.store_confidence=True)')
  truth = pseudo_source.described_source(records, config.data, labels=True)
  result = score(records, truth, records.class_names)
  workdir_lib.write_json(f'{workdir}/pseudo_quality.json', result, indent=2)
  a = result['filters']['all']
  print(f'{workdir}: {len(records)} pseudo labels, mIoU {a["miou"]:.4f}, pixel accuracy '
        f'{a["pixel_accuracy"]:.4f} against the truth; pseudo_quality.json', flush=True)
  return result


if __name__ == '__main__':
  cli.run(run, 'A pseudo_label workdir (its pseudo/ shards are scored).')
