"""Class-region centroids of label maps, and the index the sampler draws from.

Paper section 3.2: "A centroid is the arithmetic mean position of all the points
within an object"; before training we record, for every image, the centroid of
every connected region of every class, and then crop around them so each class
is seen every epoch. Regions are 8-connected (diagonal neighbours join).

Connected components work on horizontal runs rather than pixels: a label map
is cut into maximal runs of one value, runs in adjacent rows that touch and
share a value are joined with a vectorised union-find (hook the larger root to
the smaller, then pointer-jump), and centroids come from run sums in closed
form, so no per-pixel pass is needed beyond finding the runs.
"""
import concurrent.futures
import dataclasses
import hashlib
import multiprocessing
import os
import time

from absl import logging
from etils import epath
import numpy as np

from stseg_jax.data.labels import IGNORE_LABEL


def _runs(values):
  """Maximal runs of equal value along rows: (row, start, length) and run id per pixel."""
  h, w = values.shape
  change = np.ones((h, w), bool)
  np.not_equal(values[:, 1:], values[:, :-1], out=change[:, 1:])
  flat = np.flatnonzero(change)
  rows = flat // w
  # Every row opens a run at column 0, so a run ends where the next one starts.
  lengths = np.diff(flat, append=h * w)
  run_id = np.cumsum(change.ravel(), dtype=np.int64) - 1
  return rows, flat - rows * w, lengths, run_id


def _expand(lo, counts):
  """Concatenated ranges lo[i] .. lo[i] + counts[i] - 1 (counts >= 1), and each one's i."""
  total = int(counts.sum())
  if not total:
    return np.zeros(0, np.int64), np.zeros(0, np.int64)
  firsts = np.cumsum(counts) - counts
  # Build by cumsum: +1 inside a range, a jump from the last range's end at its start.
  step = np.ones(total, np.int64)
  step[firsts] = lo - np.concatenate([[0], lo[:-1] + counts[:-1] - 1])
  owner = np.zeros(total, np.int64)
  owner[firsts[1:]] = 1
  return np.cumsum(step), np.cumsum(owner)


def _touching_pairs(rows, starts, lengths, run_id, width, height, connectivity):
  """(a, b) run pairs where b is in the row below a and they touch."""
  d = 1 if connectivity == 8 else 0
  # Runs are in raster order, so those with a row below are a prefix.
  a = np.arange(run_id[(height - 1) * width])
  below = (rows[a] + 1) * width
  # Runs of the row below tile it, so the touching ones are a contiguous range.
  lo = run_id[below + np.maximum(starts[a] - d, 0)]
  hi = run_id[below + np.minimum(starts[a] + lengths[a] - 1 + d, width - 1)]
  b, owner = _expand(lo, hi - lo + 1)
  return a[owner], b


def _compress(parent):
  """Pointer jumping until every node points at its root."""
  while True:
    grand = parent[parent]
    if np.array_equal(grand, parent):
      return parent
    parent = grand


def union_find(n, a, b):
  """Root (smallest member) of each of n nodes given edges a[i] -- b[i]."""
  parent = np.arange(n)
  while a.size:
    ra, rb = parent[a], parent[b]
    # An edge whose ends share a root stays satisfied: drop it for good.
    keep = ra != rb
    a, b, ra, rb = a[keep], b[keep], ra[keep], rb[keep]
    if not a.size:
      break
    np.minimum.at(parent, np.maximum(ra, rb), np.minimum(ra, rb))
    parent = _compress(parent)
  return parent


def run_components(values, keep, connectivity=8):
  """Runs of `values` and a component id per run (-1 where keep[value] is False).

  Returns (rows, starts, lengths, run id per pixel, run values), component, count.
  keep: bool lookup table over the values. Component ids are 0..count-1 in
  raster order of each component's first pixel.
  """
  if connectivity not in (4, 8):
    raise ValueError(f'connectivity must be 4 or 8, got {connectivity}')
  height, width = values.shape
  rows, starts, lengths, run_id = _runs(values)
  run_values = values[rows, starts].astype(np.int64)
  a, b = _touching_pairs(rows, starts, lengths, run_id, width, height, connectivity)
  same = (run_values[a] == run_values[b]) & keep[run_values[a]]
  roots = union_find(rows.size, a[same], b[same])
  kept = keep[run_values]
  unique_roots = np.unique(roots[kept])
  component = np.full(rows.size, -1, np.int64)
  component[kept] = np.searchsorted(unique_roots, roots[kept])
  return (rows, starts, lengths, run_id, run_values), component, unique_roots.size


def connected_components(mask, connectivity=8):
  """8- (or 4-) connected regions of a bool mask: (int32 labels, count).

  Labels are 0 for background and 1..count in raster order of first pixel.
  """
  mask = np.asarray(mask, bool)
  keep = np.array([False, True])
  (_, _, _, run_id, _), component, count = run_components(mask, keep, connectivity)
  return (component + 1).astype(np.int32)[run_id].reshape(mask.shape), count


def region_stats(label, num_classes, ignore_label=IGNORE_LABEL, connectivity=8):
  """Per region: class, pixel count, centroid (y, x), in raster order."""
  label = np.asarray(label)
  bad = ((label < 0) | (label >= num_classes)) & (label != ignore_label)
  if bad.any():
    values = np.unique(label[bad])[:10].tolist()
    raise ValueError(f'label values {values} outside 0..{num_classes - 1} and not ignore_label '
                     f'{ignore_label}')
  keep = np.zeros(max(256, num_classes, ignore_label + 1), bool)
  keep[:num_classes] = True
  (rows, starts, lengths, _, values), comp, count = run_components(label, keep, connectivity)
  sel = comp >= 0
  comp, rows, starts, lengths = comp[sel], rows[sel], starts[sel], lengths[sel].astype(np.float64)
  pixels = np.bincount(comp, lengths, count)
  # A run covering columns s..s+l-1 sums to l * s + l * (l - 1) / 2 in x.
  sum_x = np.bincount(comp, lengths * starts + lengths * (lengths - 1) / 2, count)
  sum_y = np.bincount(comp, lengths * rows, count)
  classes = np.zeros(count, np.int64)
  classes[comp] = values[sel]
  return classes, pixels, np.stack([sum_y / pixels, sum_x / pixels], 1)


def regions_by_class(label, num_classes, ignore_label=IGNORE_LABEL, min_pixels=0, downsample=1,
                     connectivity=8):
  """{class: ((k, 2) float32 (y, x) centroids, (k,) int64 pixel counts)} of its regions.

  downsample=d indexes label[::d, ::d] (fast on big maps); sample (i, j) is
  source pixel (d*i, d*j), so centroids come back in source pixels and
  pixel counts (and min_pixels) count source pixels (d * d per sample).
  """
  classes, pixels, centers = region_stats(label[::downsample, ::downsample], num_classes,
                                          ignore_label, connectivity)
  pixels = (pixels * downsample * downsample).astype(np.int64)
  big = pixels >= min_pixels
  classes, pixels = classes[big], pixels[big]
  centers = (centers[big] * downsample).astype(np.float32)
  return {int(c): (centers[classes == c], pixels[classes == c]) for c in np.unique(classes)}


def region_centroids(label, num_classes, ignore_label=IGNORE_LABEL, min_pixels=0, downsample=1,
                     connectivity=8):
  """{class: (k, 2) float32 (y, x) centroids of its connected regions} (regions_by_class)."""
  found = regions_by_class(label, num_classes, ignore_label, min_pixels, downsample,
                           connectivity)
  return {c: centers for c, (centers, _) in found.items()}


@dataclasses.dataclass(frozen=True, eq=False)
class CentroidIndex:
  """All centroids of a dataset as flat arrays, plus rows per class."""
  image_ids: np.ndarray  # (n,) int32: which image.
  class_ids: np.ndarray  # (n,) int32: which class.
  centroids: np.ndarray  # (n, 2) float32: (y, x) in source pixels.
  num_images: int
  num_classes: int
  by_class: dict = dataclasses.field(init=False, repr=False)

  def __post_init__(self):
    order = np.argsort(self.class_ids, kind='stable')
    classes, firsts = np.unique(self.class_ids[order], return_index=True)
    groups = np.split(order, firsts[1:]) if order.size else []
    object.__setattr__(self, 'by_class', {int(c): g for c, g in zip(classes, groups)})

  @property
  def classes_present(self):
    """Sorted classes with at least one centroid."""
    return np.array(sorted(self.by_class), np.int64)

  def __len__(self):
    return self.image_ids.size

  def save(self, path):
    """Writes an .npz atomically (a crash never leaves a half file to load)."""
    path = epath.Path(path)
    tmp = path.with_name(f'{path.name}.tmp{os.getpid()}.npz')
    with tmp.open('wb') as f:
      np.savez(f, image_ids=self.image_ids, class_ids=self.class_ids, centroids=self.centroids,
               num_images=self.num_images, num_classes=self.num_classes)
    tmp.replace(path)

  @classmethod
  def load(cls, path):
    """Reads what `save` wrote."""
    with epath.Path(path).open('rb') as f, np.load(f) as z:
      return cls(z['image_ids'], z['class_ids'], z['centroids'], int(z['num_images']),
                 int(z['num_classes']))

  @classmethod
  def from_images(cls, per_image, num_classes):
    """From one {class: (k, 2) centroids} dict per image."""
    ids, classes, centers = [], [], [np.zeros((0, 2), np.float32)]
    for i, found in enumerate(per_image):
      for c, pts in found.items():
        ids.append(np.full(len(pts), i, np.int32))
        classes.append(np.full(len(pts), c, np.int32))
        centers.append(np.asarray(pts, np.float32))
    cat = lambda xs: np.concatenate(xs) if xs else np.zeros(0, np.int32)
    return cls(cat(ids), cat(classes), np.concatenate(centers), len(per_image), num_classes)


def source_fingerprint(source, sample=4):
  """Short hash of a source: repr, length and a few evenly spaced label maps."""
  digest = hashlib.sha256(f'{source!r}|{len(source)}'.encode())
  for i in np.unique(np.linspace(0, len(source) - 1, sample).astype(int)) if len(source) else []:
    label = np.ascontiguousarray(source[int(i)]['label'])
    digest.update(f'{label.shape}{label.dtype}'.encode())
    digest.update(label.tobytes())
  return digest.hexdigest()[:16]


_WORKER = {}


def _init_worker(source, kwargs):
  _WORKER.update(source=source, kwargs=kwargs)


def _centroids_of(i):
  return region_centroids(_WORKER['source'][i]['label'], **_WORKER['kwargs'])


def _in_worker_processes(source, kwargs, num_workers):
  """_centroids_of every item in spawned workers (not forked: JAX's threads may run here).

  A helper thread submits the work, so it is the one that starts the workers:
  a stop signal (SIGTERM, Ctrl-C) raises in the main thread only and can no
  longer cut a worker's start-up data short (the worker died printing a
  traceback). On the way out the queued work is dropped, not computed.
  """
  pool = concurrent.futures.ProcessPoolExecutor(
      num_workers, mp_context=multiprocessing.get_context('spawn'),
      initializer=_init_worker, initargs=(source, kwargs))
  chunk = max(1, len(source) // (8 * num_workers))
  submitter = concurrent.futures.ThreadPoolExecutor(1)
  try:
    return submitter.submit(
        lambda: list(pool.map(_centroids_of, range(len(source)), chunksize=chunk))).result()
  finally:
    pool.shutdown(wait=True, cancel_futures=True)  # waits for a worker being started
    submitter.shutdown(wait=True)


def _compute_all(source, kwargs, num_workers):
  """region_centroids for every item, in worker processes when num_workers > 1."""
  start = time.time()
  if num_workers <= 1:
    _init_worker(source, kwargs)
    found = [_centroids_of(i) for i in range(len(source))]
  else:
    found = _in_worker_processes(source, kwargs, num_workers)
  logging.info('centroids of %d images in %.0f s', len(source), time.time() - start)
  return found


def index_path(cache_dir, key, **params):
  """Cache file for `key`; the index parameters are part of the name."""
  tag = hashlib.sha256(repr(sorted(params.items())).encode()).hexdigest()[:8]
  return os.path.join(cache_dir, f'centroids-{key}-{tag}.npz')


def build_index(source, num_classes, ignore_label=IGNORE_LABEL, cache_dir=None, key=None, *,
                min_pixels=0, downsample=1, num_workers=None):
  """Centroid index of `source[i]['label']` for all i, cached as .npz by `key`.

  key: a content hash from the caller (e.g. `source_fingerprint(source)`), so
  a changed source gets a new file instead of a stale index. With cache_dir or
  key None nothing is cached. num_workers None: one process per CPU; 0 or 1:
  in this process. Workers are spawned (the parent may run JAX threads, which
  fork would copy mid-flight), so the source must pickle and a calling script
  needs the usual `if __name__ == '__main__':` guard.
  """
  kwargs = dict(num_classes=num_classes, ignore_label=ignore_label, min_pixels=min_pixels,
                downsample=downsample)
  path = None if cache_dir is None or key is None else index_path(cache_dir, key, **kwargs)
  if path and epath.Path(path).exists():
    index = CentroidIndex.load(path)
    if index.num_images == len(source) and index.num_classes == num_classes:
      return index
  workers = (os.cpu_count() or 1) if num_workers is None else num_workers
  index = CentroidIndex.from_images(_compute_all(source, kwargs, workers), num_classes)
  if path:
    epath.Path(cache_dir).mkdir(parents=True, exist_ok=True)
    index.save(path)
  return index
