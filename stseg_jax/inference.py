"""Whole-image inference shared by evaluation and pseudo labelling.

Each image is seen as views: every scale in `scales` and, with `flip`, its
mirror image. A view is cut into tiles of exactly `tile_size`, so one compiled
forward serves every image size; tiles that run past a view's edge (views
smaller than the tile) are padded with black pixels, as training pads its
crops (`augment.scale_crop`). Each tile's softmax is stitched back into the
view: the `(tile - stride) // 2` pixels along a tile edge that faces another
tile lack context and are dropped, the rest is averaged where tiles still
overlap. So tiling equals whole-image inference wherever a net's receptive
radius is within the margin, except next to padding. Views are resized back
to the image (bilinear) and averaged in probability space, all in float32.
Its speed: stseg_jax/bench/inference.py.
"""
import dataclasses
import math
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from stseg_jax import errors
from stseg_jax import models
from stseg_jax import sharding


@dataclasses.dataclass(frozen=True)
class InferenceConfig:
  """Scales, flip and tiling of inference; tile_size None = whole image.

  The defaults are configs/default.py's c.inference (tested), the cheap
  single pass; `from_config` builds it from a config section.
  """
  scales: tuple = (1.0,)
  flip: bool = False
  tile_size: Optional[tuple] = None  # (h, w) or an int; None, 0, (0, 0) = whole image
  tile_overlap: float = 1 / 3  # fraction of the tile shared with a neighbour
  tile_batch: int = 8  # tiles per forward, rounded up to the device count

  def __post_init__(self):
    tile = self.tile_size or 0
    tile = (tile, tile) if isinstance(tile, int) else tuple(int(t) for t in tile)
    # (0, 0) also means whole image: a tuple default lets configs override it
    # with a tuple. Frozen, so normalise via object.__setattr__.
    tile = tile if any(tile) else None
    object.__setattr__(self, 'tile_size', tile)
    object.__setattr__(self, 'scales', tuple(float(s) for s in self.scales))
    _check(self.scales and min(self.scales) > 0, 'scales', 'needs positive scales')
    _check(tile is None or (len(tile) == 2 and min(tile) > 0), 'tile_size',
           'must be 0, an int or (h, w) with positive sizes')
    _check(0 <= self.tile_overlap < 1, 'tile_overlap', 'must be in [0, 1)')
    _check(self.tile_batch > 0, 'tile_batch', 'must be positive')

  @classmethod
  def from_config(cls, cfg):
    """From a config section with these field names (missing ones: the defaults)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in cfg.items() if k in names})


def _check(ok, key, message):
  if not ok:
    raise errors.ConfigError(f'inference.{key}: {message}')


# The paper's test-time recipe (section 4.3, Cityscapes test set, after [76]). Tiles are sized for
# Cityscapes; change them with dataclasses.replace(PAPER_RECIPE, tile_size=...).
PAPER_RECIPE = InferenceConfig(scales=(0.5, 1.0, 2.0), flip=True,
                               tile_size=(1024, 1024), tile_overlap=1 / 3)


def tile_stride(tile, overlap):
  """Step between tile origins."""
  # The epsilon keeps 10 * (1 - 0.3) = 7.000000000000001 from rounding to 8.
  return max(1, math.ceil(tile * (1 - overlap) - 1e-9))


def tile_origins(length, tile, overlap):
  """Tile starts on one axis: every pixel covered, the last tile flush with the end."""
  if length <= tile:
    return [0]
  return list(range(0, length - tile, tile_stride(tile, overlap))) + [length - tile]


def valid_span(origin, tile, length, margin):
  """The part [start, end) of a tile that counts: not its margins facing a neighbour."""
  start = origin + margin if origin > 0 else 0
  end = origin + tile - margin if origin + tile < length else length
  return start, end


def scaled_size(hw, scale):
  return tuple(max(1, int(n * scale + 0.5)) for n in hw)


def resize_image(image, hw):
  """Bilinear resize of a uint8 HxWx3 image, on the host."""
  return np.asarray(Image.fromarray(image).resize(hw[::-1], Image.BILINEAR))


def resize_probs(probs, hw):
  """Bilinear HxWxC resize, half-pixel centres (as models.resize.bilinear)."""
  for axis, out in enumerate(hw):
    probs = _lerp_axis(probs, out, axis)
  return probs


def _lerp_axis(x, out, axis):
  n = x.shape[axis]
  if n == out:
    return x
  src = np.maximum((np.arange(out) + 0.5) * (n / out) - 0.5, 0)
  i0 = np.floor(src).astype(np.int64)
  i1 = np.minimum(i0 + 1, n - 1)
  # float32 weights, so the maps stay float32.
  lam = (src - i0).astype(np.float32).reshape((-1,) + (1,) * (x.ndim - 1 - axis))
  out = np.take(x, i0, axis)
  out *= 1 - lam
  # In place: at 2048x4096x19 each temporary is 600 MB.
  high = np.take(x, i1, axis)
  high *= lam
  out += high
  return out


def _same_shape_runs(images, max_len):
  """Consecutive runs of images of one shape, each at most `max_len` long."""
  run = []
  for image in images:
    if run and (len(run) == max_len or run[0].shape != image.shape):
      yield run
      run = []
    run.append(image)
  if run:
    yield run


def _pad_tile(tile, hw):
  """Pads a tile cut at a view's edge with black, the pad value training uses."""
  out = np.zeros(hw + tile.shape[2:], tile.dtype)
  out[:tile.shape[0], :tile.shape[1]] = tile
  return out


def predict_logits(model, variables, images):
  """uint8 NHWC images to logits: the one inference forward (evaluation,
  pseudo labels, the predictor's tiles)."""
  x = models.normalize(images, getattr(model, 'dtype', jnp.float32))
  return model.apply(variables, x, train=False)['logits']


def forward_probs(model, variables, images):
  """uint8 NHWC images to float32 softmax probabilities."""
  return jax.nn.softmax(predict_logits(model, variables, images).astype(jnp.float32), axis=-1)


class _Stitcher:
  """Averages the tile probabilities of one view, kept or not by valid_span."""

  def __init__(self, hw, tile_hw, overlap, num_classes, flipped):
    self.hw, self.tile_hw, self.flipped = hw, tile_hw, flipped
    self.sum = np.zeros(hw + (num_classes,), np.float32)
    self.origins = [tile_origins(n, t, overlap) for n, t in zip(hw, tile_hw)]
    self.margins = [(t - tile_stride(t, overlap)) // 2 for t in tile_hw]
    self.added = 0

  def _span(self, axis, origin):
    return valid_span(origin, self.tile_hw[axis], self.hw[axis], self.margins[axis])

  def add(self, origin, probs):
    (y0, y1), (x0, x1) = self._span(0, origin[0]), self._span(1, origin[1])
    y, x = origin
    self.sum[y0:y1, x0:x1] += probs[y0 - y:y1 - y, x0 - x:x1 - x]
    self.added += 1

  @property
  def done(self):
    return self.added == len(self.origins[0]) * len(self.origins[1])

  def probs(self):
    """Divides the sum, in place, by the number of tiles kept at each pixel."""
    # Tiles form a grid, so that number is a product of per-axis counts.
    counts = []
    for axis, origins in enumerate(self.origins):
      count = np.zeros(self.hw[axis], np.float32)
      for o in origins:
        start, end = self._span(axis, o)
        count[start:end] += 1
      counts.append(count)
    self.sum *= (1 / np.outer(*counts))[..., None]
    return self.sum


class Predictor:
  """Probabilities and labels of whole images under an InferenceConfig.

  Tile batches are split over the mesh's 'data' axis; give each process a mesh
  of its own devices (`sharding.make_mesh(jax.local_devices())`) so processes
  predict their own images independently.
  """

  def __init__(self, model, variables, mesh, config, num_classes):
    self.model, self.mesh, self.config = model, mesh, config
    self.num_classes = num_classes
    self.num_traces = 0  # traces of the tile forward; tests check it stays 1
    replicated, data = sharding.replicated(mesh), sharding.data_sharding(mesh)
    self._variables = jax.device_put(variables, replicated)
    self._data = data
    ndev = mesh.devices.size
    self._batch = -(-config.tile_batch // ndev) * ndev
    self._ndev = ndev

    def tile_probs(variables, tiles):
      self.num_traces += 1
      return forward_probs(model, variables, tiles)

    self.tile_probs = jax.jit(tile_probs, in_shardings=(replicated, data),
                              out_shardings=data)

  @property
  def _single_pass(self):
    c = self.config
    return c.tile_size is None and c.scales == (1.0,) and not c.flip

  def predict(self, image):
    """uint8 HxW labels (argmax) and float32 HxW confidences (max probability)."""
    probs = self.predict_probs(image)
    return probs.argmax(-1).astype(np.uint8), probs.max(-1)

  @property
  def images_per_batch(self):
    """How many images `predict_probs_batch` sends through the network at once."""
    return self._ndev if self._single_pass else 1

  def predict_probs_batch(self, images):
    """[predict_probs(image) for image in images], the same bytes, fewer forwards.

    A single whole-image pass predicts same-size images one per device at a
    time: each device then runs the very forward predict_probs runs on one
    image (its batch padded to one image per device), so the probabilities
    are the same bytes, and no device idles on padding. Any other recipe
    predicts image by image.
    """
    if not self._single_pass:
      return [self.predict_probs(image) for image in images]
    out = []
    for run in _same_shape_runs([np.asarray(image, np.uint8) for image in images], self._ndev):
      probs = np.asarray(self.tile_probs(self._variables, self._put(np.stack(run))))
      out.extend(probs[:len(run)])
    return out

  def predict_probs(self, image):
    """float32 HxWxC class probabilities of a uint8 HxWx3 image."""
    image = np.asarray(image, np.uint8)
    hw = image.shape[:2]
    total = np.zeros(hw + (self.num_classes,), np.float32)
    views = 0
    for view in self._stitched_views(image):
      probs = resize_probs(view.probs(), hw)
      total += probs[:, ::-1] if view.flipped else probs
      views += 1
    total /= views
    return total

  def _views(self, image):
    """(view image, flipped) for every scale and, with flip, its mirror."""
    for scale in self.config.scales:
      view = image if scale == 1 else resize_image(image, scaled_size(image.shape[:2], scale))
      yield view, False
      if self.config.flip:
        yield view[:, ::-1], True

  def _tiles(self, stitchers, image):
    """(stitcher, origin, tile) over every view, opening a stitcher per view."""
    c = self.config
    for view, flipped in self._views(image):
      hw = view.shape[:2]
      tile_hw = c.tile_size or hw
      st = _Stitcher(hw, tile_hw, c.tile_overlap, self.num_classes, flipped)
      stitchers.append(st)
      for y in st.origins[0]:
        for x in st.origins[1]:
          tile = view[y:y + tile_hw[0], x:x + tile_hw[1]]
          yield st, (y, x), _pad_tile(tile, tile_hw) if tile.shape[:2] != tile_hw else tile

  def _stitched_views(self, image):
    """Yields each view's finished stitcher; tile batches run across views."""
    stitchers = []
    for batch, probs in self._run(self._batches(self._tiles(stitchers, image))):
      for (st, origin, _), p in zip(batch, probs):
        st.add(origin, p)
      while stitchers and stitchers[0].done:
        yield stitchers.pop(0)

  def _batches(self, items):
    """Runs of items with one tile shape, at most a tile batch long."""
    batch = []
    for item in items:
      if batch and (len(batch) == self._batch or batch[0][2].shape != item[2].shape):
        yield batch
        batch = []
      batch.append(item)
    if batch:
      yield batch

  def _run(self, batches):
    """(batch, host probabilities) per batch. Each batch is dispatched before the
    previous one is fetched, so the device works while the host stitches."""
    pending = None
    for batch in batches:
      tiles = np.stack([tile for _, _, tile in batch])
      fixed = self.config.tile_size is not None
      out = self.tile_probs(self._variables, self._put(tiles, fixed))
      if pending:
        yield pending[0], np.asarray(pending[1])
      pending = batch, out
    if pending:
      yield pending[0], np.asarray(pending[1])

  def _put(self, x, fixed=False):
    """Pads a batch with black images and shards it over the mesh. Tiled
    batches always pad to the full tile batch: one shape, one compile."""
    n = self._batch if fixed else -(-len(x) // self._ndev) * self._ndev
    x = np.concatenate([x, np.zeros((n - len(x),) + x.shape[1:], x.dtype)])
    return jax.device_put(x, self._data)
