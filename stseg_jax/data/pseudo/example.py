"""Pseudo-label records: one tf.train.Example per image, and its codec.

One record per image, a tf.train.Example with these features (FEATURES below; pseudo_records.py
writes them into TFRecord shards):

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
import io
import zlib

import numpy as np
from PIL import Image

from stseg_jax import errors
from stseg_jax.data.pseudo import example_proto

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
