"""grain input pipelines: augmented training crops and whole-image eval batches.

Every random draw of a training item comes from a generator seeded with
(seed, epoch, item index), so a batch depends only on its position in the run:
not on the number of processes or workers, and not on whether the run was
resumed. Resuming is therefore exact by rebuilding the epoch's dataset and
slicing off the batches already seen.
"""
import dataclasses
import gc

import grain
# No public name yet for the class whose thread pool releases batches (release_shared_memory).
from grain._src.python.ipc import shared_memory_array as grain_shm
import jax
import numpy as np

from stseg_jax.data import augment as augment_lib
from stseg_jax.data import image_io
from stseg_jax.data.labels import IGNORE_LABEL


@dataclasses.dataclass(frozen=True)
class AugmentOptions:
  """A crop's augmentation; the defaults are configs/default.py's c.augment (tested)."""
  scale_range: tuple[float, float] = (0.5, 2.0)
  flip: bool = True
  blur_prob: float = 0.5
  color_jitter: float = 0.1
  grayscale_prob: float = 0.0
  center_jitter: float = 0.1
  cutmix_prob: float = 0.0  # per crop: a box pasted from another crop of its kind

  @classmethod
  def from_config(cls, cfg, **overrides):
    options = dict(scale_range=tuple(cfg.scale_range), flip=cfg.flip, blur_prob=cfg.blur_prob,
                   color_jitter=cfg.color_jitter, grayscale_prob=cfg.grayscale_prob,
                   center_jitter=cfg.center_jitter)
    return cls(**{**options, **overrides})


def second_stream_augment_options(augment, pseudo):
  """The second stream's augmentation (pseudo labels, or the real ones repeated
  in the duplicate-real control): `augment` (config.augment), made stronger by
  `pseudo`.augment (config.pseudo) when pseudo.strong_augment (ST++, Yang et al.
  2022: strong augmentation of the pseudo-labelled images only; the control
  gets the same, so that it differs from the student in the labels alone);
  else None (the same as the real crops')."""
  return _strong_options(augment, pseudo) if pseudo.strong_augment else None


def strong_view_options(augment, pseudo):
  """Online self-training's strong views (`augment` made stronger by
  `pseudo`.augment, as above), or None for other runs."""
  return _strong_options(augment, pseudo) if pseudo.online else None


def _strong_options(augment, pseudo):
  return AugmentOptions.from_config(augment, **pseudo.augment)


@dataclasses.dataclass(frozen=True)
class _TrainTransform:
  """Loads item (index, source, image id, centroid); returns one augmented crop.

  With `soft_k` > 0 every crop also carries soft targets, K classes and their
  probabilities per pixel: a teacher's top-K where the example has them
  (`topk_indices`, `topk_probs`), else its label as a one-hot distribution, so
  real and pseudo crops share one batch and one loss.
  """
  sources: tuple
  crop: int
  seed: int
  epoch: int
  options: AugmentOptions
  soft_k: int = 0
  second_sources: tuple = ()  # positions in `sources` of the second stream
  second_options: AugmentOptions | None = None  # theirs, if not `options`
  # Online self-training: every crop carries a 'strong' view, made with these
  # options for the second stream (unlabeled images) and the crop itself for
  # real ones; an unlabeled crop's label marks only its padding (ignored).
  strong_options: AugmentOptions | None = None

  def __call__(self, item):
    index, source, image_id, center = item
    example = self.sources[source][image_id]
    is_second = source in self.second_sources
    options = self.second_options if is_second and self.second_options else self.options
    rng = np.random.default_rng([self.seed, self.epoch, index])
    if self.strong_options and is_second:  # unlabeled: no label to read
      example = {'image': example['image'],
                 'label': np.zeros(example['image'].shape[:2], np.uint8)}
    extra = None
    if self.soft_k and 'topk_indices' in example:
      extra = np.concatenate([example['topk_indices'].astype(np.float32),
                              example['topk_probs'].astype(np.float32)], axis=-1)
    out = augment_lib.augment(
        example['image'], example['label'], rng, (self.crop, self.crop),
        center=center, scale_range=options.scale_range,
        center_jitter=options.center_jitter, flip=options.flip,
        blur_prob=options.blur_prob, color_jitter=options.color_jitter,
        grayscale_prob=options.grayscale_prob, extra=extra)
    # `second` marks the second stream's crops: CutMix pairs them, and OHEM
    # leaves a teacher's labels unranked (train.train_step).
    crop = {'image': out[0], 'label': out[1], 'second': np.uint8(is_second)}
    if self.strong_options:
      so = self.strong_options
      crop['strong'] = (augment_lib.strong_view(
          out[0], rng, blur_prob=so.blur_prob, color_jitter=so.color_jitter,
          grayscale_prob=so.grayscale_prob) if is_second else out[0])
    if self.soft_k:
      crop['soft_index'], crop['soft_prob'] = (
          split_soft(out[2], self.soft_k) if extra is not None else
          one_hot_soft(out[1], self.soft_k))
    return crop


@dataclasses.dataclass(frozen=True)
class _CutMix:
  """CutMix between the second stream's crops of a batch (image, label, soft targets).

  Each such crop, with probability `prob`, gets a box from the next one
  of the batch (cyclically): a random position, the box's area a
  uniform fraction of the crop's (CutMix, Yun et al. 2019). Draws come from
  (seed, epoch, batch index), like everything else in an epoch.
  """
  prob: float
  seed: int
  epoch: int

  def __call__(self, batch_index, batch):
    rows = np.flatnonzero(batch['second'])
    if rows.size < 2:
      return batch
    rng = np.random.default_rng([self.seed, self.epoch, batch_index, 1])
    keys = [k for k in ('image', 'label', 'soft_index', 'soft_prob') if k in batch]
    out = {k: v.copy() for k, v in batch.items()}
    h, w = batch['label'].shape[1:3]
    for i, partner in zip(rows, np.roll(rows, -1)):
      if rng.random() >= self.prob:
        continue
      side = np.sqrt(rng.uniform())
      bh, bw = max(1, int(h * side)), max(1, int(w * side))
      y, x = rng.integers(0, h - bh + 1), rng.integers(0, w - bw + 1)
      for k in keys:
        out[k][i, y:y + bh, x:x + bw] = batch[k][partner, y:y + bh, x:x + bw]
    return out


def one_hot_soft(label, k, ignore_label=IGNORE_LABEL):
  """A hard label as K-class soft targets: the class with probability 1 (0 where ignored)."""
  index = np.zeros(label.shape + (k,), np.uint8)
  prob = np.zeros(label.shape + (k,), np.float16)
  valid = label != ignore_label
  index[..., 0] = np.where(valid, label, 0)
  prob[..., 0] = valid
  return index, prob


def split_soft(extra, k):
  """(class ids uint8, probabilities float16) from augment's stacked extra map."""
  return extra[..., :k].astype(np.uint8), extra[..., k:].astype(np.float16)


def local_slice(items, global_batch, process_index=None, process_count=None):
  """This process's share of each global batch, in order."""
  process_index = jax.process_index() if process_index is None else process_index
  process_count = jax.process_count() if process_count is None else process_count
  local = global_batch // process_count
  num_batches = len(items) // global_batch
  out = []
  for b in range(num_batches):
    start = b * global_batch + process_index * local
    out.extend(items[start:start + local])
  return out, local


def train_epoch(sources, items, *, crop, global_batch, seed, epoch,
                options=AugmentOptions(), start_batch=0, num_workers=0, soft_k=0,
                second_sources=(), second_options=None, strong_options=None):
  """Iterator over this process's batches of one epoch, from `start_batch`.

  `sources` is a sequence of data sources (e.g. real, pseudo); `items` are
  (source position, image id, centroid or None) from the sampler. Batches
  that would be incomplete are dropped so every step has the bucket's shape.
  `soft_k` > 0 adds soft targets to every crop (_TrainTransform). The sources
  at `second_sources` get `second_options` (if given) and their crops are
  flagged `second`; with its `cutmix_prob` they also trade boxes (_CutMix).
  `strong_options` (online self-training) adds every crop's strong view.
  """
  indexed = [(i, int(source), int(image_id), center)
             for i, (source, image_id, center) in enumerate(items)]
  local_items, local_batch = local_slice(indexed, global_batch)
  ds = grain.MapDataset.source(local_items)
  ds = ds.map(_TrainTransform(tuple(sources), crop, seed, epoch, options, soft_k,
                              tuple(second_sources), second_options, strong_options))
  ds = ds.batch(local_batch, drop_remainder=True)
  if second_options and second_options.cutmix_prob:
    ds = ds.map_with_index(_CutMix(second_options.cutmix_prob, seed, epoch))
  ds = ds[start_batch:]
  it = ds.to_iter_dataset(grain.ReadOptions(num_threads=2, prefetch_buffer_size=4))
  if num_workers:
    it = it.mp_prefetch(grain.MultiprocessingOptions(num_workers=num_workers))
  return it


def release_shared_memory():
  """Frees the shared memory of batches no longer referenced, and waits until it is.

  grain's worker processes hand batches over in shared memory, and the main
  process unlinks a batch's segment from a thread pool when the batch dies.
  Work still queued in that pool at exit is lost, and Python's resource tracker
  then reports the segments as leaked (seen on a loaded CI machine). Draining
  the pool here makes the release happen before the job reports its outcome;
  the next data iterator starts a new pool.
  """
  gc.collect()
  array_class = grain_shm.SharedMemoryArray
  pool = array_class._del_thread_pool  # pylint: disable=protected-access
  if pool is not None:
    array_class._disable_async_del()  # pylint: disable=protected-access
    pool.close()
    pool.join()


def eval_batches(source, batch_size, max_images=None):
  """Yields this process's whole-image batches of the eval set.

  Each global batch is padded to `batch_size` with all-ignore examples so its
  shape never changes (one compilation per image size). Images of different
  sizes in one batch (KITTI) are padded at the bottom and right to the
  largest, with the ignore label, so the padding never counts.
  """
  n = len(source) if not max_images else min(max_images, len(source))
  local = batch_size // jax.process_count()
  first = source[0]
  keys = ('image', 'label', 'instance') if 'instance' in first else ('image', 'label')
  fill = {'image': 0, 'label': IGNORE_LABEL, 'instance': 0}  # instance 0: none, for iIoU
  for start in range(0, n, batch_size):
    # The padded size comes from the whole global batch, so every process agrees.
    sizes = [_image_size(source, i, first) for i in range(start, min(start + batch_size, n))]
    height, width = max(h for h, _ in sizes), max(w for _, w in sizes)
    begin = start + jax.process_index() * local
    examples = [source[i] for i in range(begin, min(begin + local, n))]
    batch = {}
    for key in keys:
      out = np.full((local, height, width) + first[key].shape[2:], fill[key], first[key].dtype)
      for row, e in enumerate(examples):
        out[row, :e[key].shape[0], :e[key].shape[1]] = e[key]
      batch[key] = out
    yield batch


def _image_size(source, i, first):
  """(height, width) of item i; sources without files render or store one size."""
  return image_io.header_size(source, i) or first['label'].shape[:2]
