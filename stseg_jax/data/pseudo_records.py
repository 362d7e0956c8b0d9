"""Pseudo labels on disk: tf.train.Example records in TFRecord shards, a manifest, a source.

Layout of DIR/pseudo/ (several pseudo-label sets may share it, one `name` each):

  <name>-<shard:05d>-of-<n:05d>.tfrecord   the records (tfrecord.py: the container)
  <name>-...tfrecord.index.npy            offset index cache, rebuilt when stale or missing
  <name>.manifest.json                    shards, record counts, teacher, config hash, classes

One record per image, a tf.train.Example with these features (FEATURES below):

  feature          type         content
  image/id         bytes        image id, UTF-8
  image/path       bytes        image file, UTF-8, as given to the writer (may be relative)
  image/height     int64        H
  image/width      int64        W
  label/png        bytes        PNG, 8-bit grey, HxW hard label: class id, 255 = ignore
  confidence/png   bytes  opt.  PNG, 8-bit grey, HxW round(255 * teacher confidence)
  topk/k           int64  opt.  K, the number of soft-label classes kept per pixel
  topk/indices     bytes  opt.  zlib of raw uint8 HxWxK class ids (C order), most likely first
  topk/probs       bytes  opt.  zlib of raw little-endian float16 HxWxK probabilities, same order
  centroids/class  int64 list   class of each connected region's centroid (may be empty)
  centroids/yx     float list   (y, x) of each centroid in pixels, flattened: y0 x0 y1 x1 ...
  centroids/pixels int64  opt.  pixel count of each centroid's region (for a size minimum)
  teacher/step     int64  opt.  training step of the teacher checkpoint

Optional features are absent when not written. In TensorFlow, parse with
`tf.io.parse_single_example(x, tf_feature_spec(tf))`, decode labels with
`tf.io.decode_png`, and soft labels with `tf.reshape(tf.io.decode_raw(
tf.io.decode_compressed(x, 'ZLIB'), tf.float16), [h, w, k])`. Top-k
probabilities are float16 rather than uint8-quantised: the soft-label ablation
gets the teacher's numbers to ~3 digits, at twice the bytes (about 2.6 vs
1.2 MB per 512x1024 image at K=3 after zlib). Centroids ride along in each
record so the student's class-uniform sampler needs no pass over label maps.
"""
import glob
import hashlib
import io
import json
import os
import re
import threading
import zlib

import numpy as np
from PIL import Image

from stseg_jax import errors
from stseg_jax.data import example_proto
from stseg_jax.data import tfrecord
from stseg_jax.data.centroids import CentroidIndex
from stseg_jax.data.labels import IGNORE_LABEL

FEATURES = {
    'image/id': ('bytes', 'image id, UTF-8'),
    'image/path': ('bytes', 'image file path, UTF-8, as given to the writer'),
    'image/height': ('int64', 'H'),
    'image/width': ('int64', 'W'),
    'label/png': ('bytes', 'PNG, 8-bit grey, HxW hard label (255 = ignore)'),
    'confidence/png': ('bytes', 'PNG, 8-bit grey, HxW round(255 * confidence)'),
    'topk/k': ('int64', 'K, soft-label classes kept per pixel'),
    'topk/indices': ('bytes', 'zlib(raw uint8 HxWxK class ids), most likely first'),
    'topk/probs': ('bytes', 'zlib(raw little-endian float16 HxWxK probabilities)'),
    'centroids/class': ('int64 list', 'class of each region centroid'),
    'centroids/yx': ('float list', '(y, x) per centroid in pixels, flattened pairs'),
    'centroids/pixels': ('int64 list', 'pixel count of each centroid\'s region'),
    'teacher/step': ('int64', 'training step of the teacher checkpoint'),
}
OPTIONAL = frozenset({'confidence/png', 'topk/k', 'topk/indices', 'topk/probs', 'teacher/step',
                      'centroids/pixels'})
MANIFEST_VERSION = 1
_SHARD_RE = re.compile(r'^(?P<name>.+)-(?P<shard>\d{5,})-of-(?P<n>\d{5,})\.tfrecord$')


def tf_feature_spec(tf):
  """The FEATURES spec for tf.io.parse_single_example; `tf` is the caller's TensorFlow."""
  dtypes = {'bytes': tf.string, 'int64': tf.int64, 'float': tf.float32}
  spec = {}
  for name, (kind, _) in FEATURES.items():
    dtype = dtypes[kind.split()[0]]
    if kind.endswith('list'):
      spec[name] = tf.io.FixedLenSequenceFeature([], dtype, allow_missing=True)
    else:
      default = ({tf.string: b'', tf.int64: -1}[dtype] if name in OPTIONAL else None)
      spec[name] = tf.io.FixedLenFeature([], dtype, default_value=default)
  return spec


# --- Example encoding -------------------------------------------------------


def png_encode(array):
  """PNG bytes of a 2-D uint8 array (8-bit grey)."""
  buf = io.BytesIO()
  Image.fromarray(np.ascontiguousarray(array, np.uint8)).save(buf, format='PNG')
  return buf.getvalue()


def png_decode(data, what='label/png'):
  """2-D uint8 array from 8-bit grey PNG bytes."""
  with Image.open(io.BytesIO(data)) as im:
    if im.mode != 'L':
      raise errors.DataError(f'{what}: PNG mode {im.mode}, expected L (8-bit grey)')
    return np.asarray(im)


def _feature(kind, values):
  if kind == 'bytes':
    return example_proto.Feature(bytes_list=example_proto.BytesList(value=values))
  if kind == 'int64':
    return example_proto.Feature(int64_list=example_proto.Int64List(value=values))
  return example_proto.Feature(float_list=example_proto.FloatList(value=values))


def _as_uint8_map(name, array, shape):
  array = np.asarray(array)
  if array.shape != shape:
    raise ValueError(f'{name}: shape {array.shape}, expected {shape}')
  if array.dtype != np.uint8 and (array.min(initial=0) < 0 or array.max(initial=0) > 255):
    raise ValueError(f'{name}: values outside 0..255')
  return array.astype(np.uint8)


def _centroid_lists(centroids):
  """{class: (k, 2) yx, or ((k, 2) yx, (k,) pixels)} -> (classes, flattened yx, pixels or None)."""
  classes, yx, pixels = [], [], []
  for c in sorted(centroids or {}):
    found = centroids[c]
    points, sizes = found if isinstance(found, tuple) else (found, None)
    pts = np.asarray(points, np.float32).reshape(-1, 2)
    classes += [int(c)] * len(pts)
    yx += pts.ravel().tolist()
    pixels = None if sizes is None or pixels is None else pixels + [int(v) for v in sizes]
  return classes, yx, pixels


def encode_example(image_id, path, label, confidence=None, topk=None, centroids=None,
                   teacher_step=None):
  """Serialized tf.train.Example of one pseudo label.

  label: HxW ints in 0..255. confidence: HxW floats in [0, 1]. topk: (indices,
  probs), each HxWxK. centroids: {class: (k, 2) yx}, as region_centroids gives.
  """
  label = np.asarray(label)
  if label.ndim != 2:
    raise ValueError(f'label: expected HxW, got shape {label.shape}')
  h, w = label.shape
  feats = {'image/id': ('bytes', [str(image_id).encode()]),
           'image/path': ('bytes', [str(path).encode()]),
           'image/height': ('int64', [h]), 'image/width': ('int64', [w]),
           'label/png': ('bytes', [png_encode(_as_uint8_map('label', label, (h, w)))])}
  if confidence is not None:
    conf = np.clip(np.asarray(confidence, np.float32), 0, 1)
    feats['confidence/png'] = ('bytes', [png_encode(
        _as_uint8_map('confidence', np.rint(conf * 255), (h, w)))])
  if topk is not None:
    feats.update(_topk_features(topk, h, w))
  classes, yx, pixels = _centroid_lists(centroids)
  feats['centroids/class'] = ('int64', classes)
  feats['centroids/yx'] = ('float', yx)
  if pixels is not None:
    feats['centroids/pixels'] = ('int64', pixels)
  if teacher_step is not None:
    feats['teacher/step'] = ('int64', [int(teacher_step)])
  example = example_proto.Example(features=example_proto.Features(
      feature={k: _feature(kind, v) for k, (kind, v) in feats.items()}))
  # Sorted map keys: the same inputs give the same bytes, so reruns are byte-identical.
  return example.SerializeToString(deterministic=True)


def _topk_features(topk, h, w):
  indices, probs = (np.asarray(a) for a in topk)
  if indices.ndim != 3 or indices.shape[:2] != (h, w) or probs.shape != indices.shape:
    raise ValueError(f'topk: indices {indices.shape} and probs {probs.shape} must both be '
                     f'({h}, {w}, K)')
  k = indices.shape[2]
  indices = _as_uint8_map('topk indices', indices, (h, w, k))
  probs = np.ascontiguousarray(probs, '<f2')
  return {'topk/k': ('int64', [k]),
          'topk/indices': ('bytes', [zlib.compress(indices.tobytes())]),
          'topk/probs': ('bytes', [zlib.compress(probs.tobytes())])}


# --- Example decoding -------------------------------------------------------


def _parse(data):
  try:
    return example_proto.Example.FromString(data).features.feature
  except Exception as e:  # protobuf's DecodeError has no stable import path
    raise errors.DataError(f'not a tf.train.Example ({len(data)} bytes): {e}') from e


def _values(feats, name):
  """The value list of feature `name`; ValueError if a required one is missing."""
  if name not in feats:
    if name in OPTIONAL:
      return None
    raise errors.DataError(f'pseudo-label record lacks required feature {name!r}')
  kind = FEATURES[name][0].split()[0]
  return getattr(feats[name], {'bytes': 'bytes_list', 'int64': 'int64_list',
                               'float': 'float_list'}[kind]).value


def _centroids_from(feats, min_pixels=0):
  classes = np.asarray(_values(feats, 'centroids/class'), np.int64)
  yx = np.asarray(_values(feats, 'centroids/yx'), np.float32).reshape(-1, 2)
  if len(classes) != len(yx):
    raise errors.DataError(f'{len(classes)} centroid classes but {len(yx)} (y, x) pairs')
  if min_pixels:
    pixels = _values(feats, 'centroids/pixels')
    if pixels is None:
      raise errors.DataError('pseudo labels without region sizes (made before they were '
                             'stored): relabel them, or set config.pseudo.centroid_min_pixels=0')
    big = np.asarray(pixels, np.int64) >= min_pixels
    classes, yx = classes[big], yx[big]
  return {int(c): yx[classes == c] for c in np.unique(classes)}


def decode_centroids(data, min_pixels=0):
  """Only the {class: (k, 2) yx} centroids of a record, of regions of at least
  `min_pixels` pixels: no PNG is decoded."""
  return _centroids_from(_parse(data), min_pixels)


def decode_example(data):
  """Record -> dict: id, path, height, width, label, centroids, and optional ones if stored."""
  feats = _parse(data)
  h, w = _values(feats, 'image/height')[0], _values(feats, 'image/width')[0]
  out = {'id': _values(feats, 'image/id')[0].decode(),
         'path': _values(feats, 'image/path')[0].decode(),
         'height': h, 'width': w, 'centroids': _centroids_from(feats),
         'label': _checked_shape(png_decode(_values(feats, 'label/png')[0]), (h, w), 'label')}
  conf = _values(feats, 'confidence/png')
  if conf is not None:
    out['confidence'] = _checked_shape(
        png_decode(conf[0], 'confidence/png'), (h, w), 'confidence') / np.float32(255)
  if _values(feats, 'topk/k') is not None:
    k = _values(feats, 'topk/k')[0]
    raw = zlib.decompress(_values(feats, 'topk/indices')[0])
    out['topk_indices'] = np.frombuffer(raw, np.uint8).reshape(h, w, k)
    raw = zlib.decompress(_values(feats, 'topk/probs')[0])
    out['topk_probs'] = np.frombuffer(raw, '<f2').reshape(h, w, k).astype(np.float32)
  step = _values(feats, 'teacher/step')
  if step is not None:
    out['teacher_step'] = int(step[0])
  return out


def _checked_shape(array, shape, what):
  if array.shape != shape:
    raise errors.DataError(f'{what} PNG is {array.shape}, record says {shape}')
  return array


# --- Shards -----------------------------------------------------------------


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


# --- Manifest ---------------------------------------------------------------


def manifest_path(directory, name):
  return os.path.join(directory, f'{name}.manifest.json')


def write_manifest(directory, manifest):
  """Writes `<name>.manifest.json` atomically; returns its path.

  Required keys: name, class_names, teacher, shards (a list of
  {'file': basename, 'records': count}); config_hash and others are kept as given.
  """
  missing = [k for k in ('name', 'class_names', 'teacher', 'shards') if k not in manifest]
  if missing:
    raise errors.DataError(f'manifest lacks keys {missing}')
  manifest = dict(manifest, format_version=MANIFEST_VERSION)
  path = manifest_path(directory, manifest['name'])
  tmp = tfrecord.temp_path(path)
  with open(tmp, 'w') as f:
    json.dump(manifest, f, indent=1, sort_keys=True)
  os.replace(tmp, path)
  return path


def read_manifest(directory, name):
  """The manifest dict of pseudo-label set `name` in `directory`."""
  path = manifest_path(directory, name)
  if not os.path.isfile(path):
    raise FileNotFoundError(f'no pseudo-label manifest {path}')
  with open(path) as f:
    try:
      manifest = json.load(f)
    except json.JSONDecodeError as e:
      raise errors.DataError(f'{path}: not valid JSON: {e}') from e
  if manifest.get('format_version') != MANIFEST_VERSION:
    raise errors.DataError(f'{path}: format_version {manifest.get("format_version")!r}, this code '
                           f'reads {MANIFEST_VERSION}')
  return manifest


def validate_manifest(manifest, expected_class_names, expected_teacher=None):
  """ValueError naming the key where the manifest disagrees with the student's config."""
  where = f'pseudo-label manifest {manifest.get("name")!r}'
  got = list(manifest.get('class_names', []))
  if got != list(expected_class_names):
    diff = next((i for i, (a, b) in enumerate(zip(got, expected_class_names)) if a != b),
                min(len(got), len(expected_class_names)))
    raise errors.DataError(f'{where}: class_names differ from the student config ({len(got)} vs '
                           f'{len(expected_class_names)} classes, first difference at index {diff})')
  teacher = manifest.get('teacher')
  if isinstance(teacher, dict):  # written by stseg_jax.pseudo_label: {'workdir', 'step'}
    teacher = teacher.get('workdir')
  # The same folder by another path (a link, as stseg_jax.ablation makes) is the same teacher.
  if expected_teacher and (not teacher or
                           os.path.realpath(teacher) != os.path.realpath(expected_teacher)):
    raise errors.DataError(f'{where}: teacher {teacher!r} is not the configured '
                           f'{expected_teacher!r}')


# --- Random-access source ---------------------------------------------------


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
    self.manifest = (read_manifest(directory, name)
                     if os.path.exists(manifest_path(directory, name)) else None)
    self._shards = self._shard_paths()
    self._indexes = [load_index(p, verify_crc) for p in self._shards]
    self._check_counts()
    self._ends = np.cumsum([len(ix) for ix in self._indexes])
    self._fds, self._lock, self._pid = {}, threading.Lock(), os.getpid()

  def _shard_paths(self):
    if self.manifest is None:
      return find_shards(self.directory, self.name)
    paths = [os.path.join(self.directory, s['file']) for s in self.manifest['shards']]
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
      raise FileNotFoundError(f'{len(missing)} shard(s) in {self.name}.manifest.json are '
                              f'missing, e.g. {missing[:3]}')
    return paths

  def _check_counts(self):
    for i, (path, index) in enumerate(zip(self._shards, self._indexes)):
      want = self.manifest['shards'][i]['records'] if self.manifest else len(index)
      if len(index) != want:
        raise errors.DataError(f'{path}: {len(index)} records, the manifest says {want}')

  @property
  def class_names(self):
    return tuple(self.manifest['class_names']) if self.manifest else None

  @property
  def num_classes(self):
    return len(self.manifest['class_names']) if self.manifest else None

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
    example = decode_example(self.record(i))
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
    per_image = [decode_centroids(data, min_pixels) for path in self._shards
                 for data in tfrecord.read_records(path, self.verify_crc)]
    return CentroidIndex.from_images(per_image, num_classes)

  def close(self):
    with self._lock:
      for fd in self._fds.values():
        os.close(fd)
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
