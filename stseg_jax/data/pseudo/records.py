"""Pseudo labels on disk: TFRecord shards of records, and a random-access source over them.

Layout of DIR/pseudo/ (several pseudo-label sets may share it, one `name` each):

  <name>-<shard:05d>-of-<n:05d>.tfrecord   the records (tfrecord.py: the container)
  <name>-...tfrecord.index.npy            offset index cache, rebuilt when stale or missing
  <name>.manifest.json                    shards, record counts, teacher, config hash, classes

Records are example.py's tf.train.Examples, the manifest is
manifest.py's.
"""
import glob
import hashlib
import os
import re
import threading

import numpy as np
from PIL import Image

from stseg_jax import errors
from stseg_jax.data.pseudo import example as pseudo_example
from stseg_jax.data.pseudo import manifest as pseudo_manifest
from stseg_jax.data.pseudo import tfrecord
from stseg_jax.data.centroids import CentroidIndex
from stseg_jax.data.labels import IGNORE_LABEL

_SHARD_RE = re.compile(r'^(?P<name>.+)-(?P<shard>\d{5,})-of-(?P<n>\d{5,})\.tfrecord$')


def shard_name(name, shard, num_shards):
  """'<name>-00003-of-00016.tfrecord' (the usual sharded-file naming)."""
  if not 0 <= shard < num_shards:
    raise ValueError(f'shard {shard} outside 0..{num_shards - 1}')
  return f'{name}-{shard:05d}-of-{num_shards:05d}.tfrecord'


def index_cache_path(shard_path):
  return shard_path + '.index.npy'


def _save_index(shard_path, index):
  """Caches an offset index beside its shard; a read-only directory just skips it."""
  path = index_cache_path(shard_path)
  tmp = tfrecord.temp_path(path)
  try:
    for stale in glob.glob(glob.escape(path) + '.tmp-*'):  # a writer killed mid-way
      os.remove(stale)
    with open(tmp, 'wb') as f:
      np.save(f, index)
    os.replace(tmp, path)
  except OSError:
    pass


def load_index(shard_path, verify_crc=True):
  """The shard's offset index, from its cache if that is newer and matches the file size."""
  cache = index_cache_path(shard_path)
  if os.path.exists(cache) and os.stat(cache).st_mtime_ns >= os.stat(shard_path).st_mtime_ns:
    try:
      index = np.load(cache)
      if index.ndim == 2 and index.shape[1] == 2 and tfrecord.index_matches(index, shard_path):
        return index
    except (OSError, ValueError):
      pass  # a damaged cache is rebuilt below
  index = tfrecord.build_offset_index(shard_path, verify_crc)
  _save_index(shard_path, index)
  return index


def write_shard(path, records):
  """Writes serialized examples to `path` atomically and caches its index; returns the count."""
  if os.path.exists(index_cache_path(path)):
    os.remove(index_cache_path(path))  # the old shard's index must not outlive it
  index = tfrecord.write_shard_atomically(path, records)
  _save_index(path, index)
  return len(index)


def shard_is_complete(path, expected_records=None):
  """Whether `path` is a whole, CRC-clean shard (of `expected_records` records, if given).

  Shards appear only by rename once written, so a crash leaves no file here;
  a damaged or short one counts as incomplete so that a rerun redoes it.
  """
  if not os.path.isfile(path):
    return False
  try:
    index = load_index(path)
  except tfrecord.CorruptRecordError:
    return False
  return expected_records is None or len(index) == expected_records


def find_shards(directory, name):
  """Sorted paths of all shards of `name`; ValueError unless the set is complete."""
  found = {}
  for entry in sorted(os.listdir(directory)):
    m = _SHARD_RE.match(entry)
    if m and m['name'] == name:
      found[(int(m['shard']), int(m['n']))] = os.path.join(directory, entry)
  if not found:
    raise FileNotFoundError(f'no shards {name}-*-of-*.tfrecord in {directory}')
  counts = {n for _, n in found}
  if len(counts) > 1:
    raise errors.DataError(f'{directory}: shards of {name!r} disagree on the shard count: {counts}')
  n = counts.pop()
  missing = [shard_name(name, s, n) for s in range(n) if (s, n) not in found]
  if missing:
    raise errors.DataError(f'{directory}: {len(missing)} of {n} shards missing, e.g. {missing[:3]}')
  return [found[(s, n)] for s in range(n)]


class PseudoLabelSource:
  """Random access over all shards of one pseudo-label set, for grain.

  source[i] -> dict(label, id, path, centroids[, image, confidence, topk_*]).
  With a manifest its shard list and counts are checked; without one the
  complete `-of-N` set must be present. Files are opened lazily and not
  pickled, so the source crosses into grain worker processes.
  """
  ignore_label = IGNORE_LABEL

  def __init__(self, directory, name, load_images=False, image_root=None, verify_crc=True):
    self.directory, self.name = directory, name
    self.load_images, self.image_root, self.verify_crc = load_images, image_root, verify_crc
    self.manifest = (pseudo_manifest.read_manifest(directory, name)
                     if os.path.exists(pseudo_manifest.manifest_path(directory, name)) else None)
    self._shards = self._shard_paths()
    self._indexes = [load_index(p, verify_crc) for p in self._shards]
    self._check_counts()
    self._ends = np.cumsum([len(ix) for ix in self._indexes])
    self._fds, self._lock, self._pid = {}, threading.Lock(), os.getpid()

  def _shard_paths(self):
    if self.manifest is None:
      return find_shards(self.directory, self.name)
    paths = [os.path.join(self.directory, s['file']) for s in self.manifest.shards]
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
      raise FileNotFoundError(f'{len(missing)} shard(s) in {self.name}.manifest.json are '
                              f'missing, e.g. {missing[:3]}')
    return paths

  def _check_counts(self):
    for i, (path, index) in enumerate(zip(self._shards, self._indexes)):
      want = self.manifest.shards[i]['records'] if self.manifest else len(index)
      if len(index) != want:
        raise errors.DataError(f'{path}: {len(index)} records, the manifest says {want}')

  @property
  def class_names(self):
    return tuple(self.manifest.class_names) if self.manifest else None

  @property
  def num_classes(self):
    return len(self.manifest.class_names) if self.manifest else None

  def __len__(self):
    return int(self._ends[-1]) if len(self._ends) else 0

  def record(self, i):
    """Serialized example i."""
    if not -len(self) <= i < len(self):
      raise IndexError(f'index {i} out of range for {len(self)} pseudo labels')
    i = int(i) % len(self)
    s = int(np.searchsorted(self._ends, i, side='right'))
    offset, length = self._indexes[s][i - (self._ends[s - 1] if s else 0)]
    return tfrecord.read_record_at(self._shards[s], offset, length, self._fd(s), self.verify_crc)

  def _fd(self, s):
    # pread on a shared fd is thread-safe; grain's reader threads share these.
    if self._pid != os.getpid():  # forked: the parent's lock may be held forever
      self._fds, self._lock, self._pid = {}, threading.Lock(), os.getpid()
    with self._lock:
      if s not in self._fds:
        self._fds[s] = os.open(self._shards[s], os.O_RDONLY)
      return self._fds[s]

  def __getitem__(self, i):
    example = pseudo_example.decode_example(self.record(i))
    example.pop('height'), example.pop('width')
    if self.load_images:
      example['image'] = self._image(example)
    return example

  def _image(self, example):
    path = example['path']
    if self.image_root and not os.path.isabs(path):
      path = os.path.join(self.image_root, path)
    with Image.open(path) as im:
      image = np.asarray(im.convert('RGB'))
    if image.shape[:2] != example['label'].shape:
      raise errors.DataError(f'{path}: image is {image.shape[:2]}, its pseudo label '
                             f'{example["label"].shape}')
    return image

  def centroid_index(self, num_classes=None, min_pixels=0):
    """CentroidIndex of the stored centroids of regions of at least `min_pixels`
    pixels, image ids = source indices; no PNG decoding."""
    num_classes = num_classes or self.num_classes
    if num_classes is None:
      raise ValueError('num_classes is needed when the pseudo labels have no manifest')
    per_image = [pseudo_example.decode_centroids(data, min_pixels) for path in self._shards
                 for data in tfrecord.read_records(path, self.verify_crc)]
    return CentroidIndex.from_images(per_image, num_classes)

  def close(self, _close_fd=os.close):  # bound at definition: at exit `os` may be gone
    with self._lock:
      for fd in self._fds.values():
        _close_fd(fd)
      self._fds.clear()

  def __del__(self):
    if getattr(self, '_fds', None) and getattr(self, '_lock', None):
      self.close()

  def __getstate__(self):
    state = dict(self.__dict__)
    state['_fds'], state['_lock'] = {}, None
    return state

  def __setstate__(self, state):
    self.__dict__.update(state, _lock=threading.Lock(), _pid=os.getpid())

  def __repr__(self):
    # Sizes and counts make a regenerated set hash differently (source_fingerprint).
    sig = [(os.path.basename(p), os.path.getsize(p), len(ix))
           for p, ix in zip(self._shards, self._indexes)]
    digest = hashlib.sha256(repr(sig).encode()).hexdigest()[:12]
    return (f'PseudoLabelSource(directory={self.directory!r}, name={self.name!r}, '
            f'n={len(self)}, shards={digest})')
