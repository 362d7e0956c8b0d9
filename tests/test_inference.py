"""Tiling, flips and scales of inference, against whole-image passes and by hand."""
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from stseg_jax import errors
from stseg_jax import inference
from stseg_jax import models
from stseg_jax import sharding
from stseg_jax.models.summary import random_variables

NUM_CLASSES = 5


class TinyFCN(nn.Module):
  """Two 3x3 convs, no stride or BN: receptive field 5 px, a radius of 2."""
  num_classes: int = NUM_CLASSES
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = nn.relu(nn.Conv(8, (3, 3))(x))
    return {'logits': nn.Conv(self.num_classes, (3, 3))(x)}


@pytest.fixture(scope='module')
def tiny():
  model = TinyFCN()
  return model, model.init(jax.random.key(0), jnp.zeros((1, 8, 8, 3)))


def _predictor(model_and_vars, **config):
  model, variables = model_and_vars
  return inference.Predictor(model, variables, sharding.make_mesh(),
                             inference.InferenceConfig(**config), NUM_CLASSES)


def _image(h, w, seed=0):
  return np.random.default_rng(seed).integers(0, 256, (h, w, 3), np.uint8)


def test_tile_origins_by_hand():
  assert inference.tile_origins(10, 4, 0.5) == [0, 2, 4, 6]
  assert inference.tile_origins(10, 4, 0.0) == [0, 4, 6]
  assert inference.tile_origins(4, 4, 0.5) == [0]
  assert inference.tile_origins(3, 4, 0.5) == [0]  # smaller than the tile
  assert inference.tile_origins(2048, 1024, 1 / 3) == [0, 683, 1024]
  # Stride 7, not the 8 that ceil(10 * (1 - 0.3)) gives in floating point.
  assert inference.tile_origins(24, 10, 0.3) == [0, 7, 14]


@pytest.mark.parametrize('length,tile,overlap', [(37, 16, 1 / 3), (53, 20, 0.25),
                                                 (100, 7, 0.5), (9, 8, 0.9)])
def test_tile_valid_spans_cover_every_pixel_once_or_more(length, tile, overlap):
  origins = inference.tile_origins(length, tile, overlap)
  assert origins[-1] + tile == length
  margin = (tile - inference.tile_stride(tile, overlap)) // 2
  covered = np.zeros(length, int)
  for o in origins:
    start, end = inference.valid_span(o, tile, length, margin)
    covered[start:end] += 1
  assert covered.min() >= 1


@pytest.mark.parametrize('hw', [(37, 53), (13, 53), (53, 13)])
def test_tiling_equals_whole_image(tiny, hw):
  # Tiles of 16x20 with a third overlap drop margins of 2 and 3 px: at least
  # the net's radius, so every kept pixel saw its full receptive field.
  image = _image(*hw)
  whole = _predictor(tiny).predict_probs(image)
  tiled = _predictor(tiny, tile_size=(16, 20)).predict_probs(image)
  assert tiled.shape == whole.shape == hw + (NUM_CLASSES,)
  # Dims smaller than the tile are padded with black at the bottom/right: the
  # 2 px within the radius of that padding differ, the rest must not.
  rows = hw[0] if hw[0] > 16 else hw[0] - 2
  cols = hw[1] if hw[1] > 20 else hw[1] - 2
  np.testing.assert_allclose(tiled[:rows, :cols], whole[:rows, :cols], atol=1e-5)


def test_whole_image_mode_is_one_softmax(tiny):
  model, variables = tiny
  image = _image(11, 13)
  want = jax.nn.softmax(model.apply(variables, models.normalize(
      image[None]))['logits'])[0]
  got = _predictor(tiny).predict_probs(image)
  np.testing.assert_allclose(got, want, atol=1e-6)


def test_flip_average_of_symmetric_image_is_symmetric(tiny):
  half = _image(21, 15)
  image = np.concatenate([half, half[:, :1], half[:, ::-1]], 1)  # 31 wide, mirrored
  probs = _predictor(tiny, flip=True, scales=(0.5, 1.0, 1.5),
                     tile_size=(16, 20)).predict_probs(image)
  # Up to float rounding: views are summed in order, not mirrored pairs first.
  np.testing.assert_allclose(probs, probs[:, ::-1], atol=1e-6)
  # Without the flip the (asymmetric) kernels break the symmetry.
  probs = _predictor(tiny, tile_size=(16, 20)).predict_probs(image)
  assert np.abs(probs - probs[:, ::-1]).max() > 1e-3


def test_fast_path_batch_matches_per_image(tiny):
  predictor = _predictor(tiny)
  # 8 devices: runs of 8, 3, then another size; the same bytes as image by image.
  images = [_image(9, 14, seed) for seed in range(11)] + [_image(10, 7, 11)]
  batched = predictor.predict_probs_batch(images)
  assert predictor.images_per_batch == 8 and len(batched) == len(images)
  for image, probs in zip(images, batched):
    np.testing.assert_array_equal(probs, predictor.predict_probs(image))
  tiled = _predictor(tiny, tile_size=(8, 8))
  assert tiled.images_per_batch == 1
  np.testing.assert_array_equal(tiled.predict_probs_batch(images[:1])[0],
                                tiled.predict_probs(images[0]))


def test_tile_function_compiles_once_for_any_image_size(tiny):
  predictor = _predictor(tiny, scales=(0.5, 1.0), flip=True, tile_size=16)
  for hw in [(9, 30), (40, 17), (33, 33)]:
    predictor.predict(_image(*hw))
  assert predictor.num_traces == 1
  assert predictor.tile_probs._cache_size() == 1  # pylint: disable=protected-access


def test_fast_scnn_multiscale_flipped_tiled_odd_size():
  # 45x61 divides neither the output stride (8) nor the pooling stride (32);
  # at scale 0.5 the view is smaller than the tile, at 1.5 larger.
  model = models.create('fast_scnn', num_classes=NUM_CLASSES)
  predictor = inference.Predictor(
      model, random_variables(model), sharding.make_mesh(),
      inference.InferenceConfig(scales=(0.5, 1.0, 1.5), flip=True, tile_size=(32, 48)),
      NUM_CLASSES)
  probs = predictor.predict_probs(_image(45, 61))
  assert probs.shape == (45, 61, NUM_CLASSES) and probs.dtype == np.float32
  np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
  label, conf = predictor.predict(_image(45, 61))
  assert label.shape == conf.shape == (45, 61) and label.max() < NUM_CLASSES


def test_config_from_config_dict():
  cfg = ml_collections.ConfigDict(dict(scales=[0.5, 1.0, 2.0], flip=True, tile_size=64,
                                       tile_overlap=0.25, tile_batch=4))
  config = inference.InferenceConfig.from_config(cfg)
  assert config.scales == (0.5, 1.0, 2.0) and config.tile_size == (64, 64)
  assert inference.InferenceConfig.from_config(
      ml_collections.ConfigDict(dict(tile_size=(0, 0)))).tile_size is None
  assert inference.InferenceConfig(tile_size=0).tile_size is None
  assert inference.PAPER_RECIPE.scales == (0.5, 1.0, 2.0) and inference.PAPER_RECIPE.flip
  with pytest.raises(errors.ConfigError, match='tile_overlap'):
    inference.InferenceConfig(tile_overlap=1.0)
