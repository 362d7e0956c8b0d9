"""Augmentation keeps image and label aligned, pads with ignore, and is seeded."""
import numpy as np
import pytest
from PIL import Image

from stseg_jax.data import augment

# Corners of the RGB cube: none is a blend of others, so a pixel of exactly
# one of these colours was interpolated from that colour alone.
PALETTE = np.array([[r, g, b] for r in (0, 255) for g in (0, 255) for b in (0, 255)], np.uint8)
PAD = 128  # Gray: not a palette colour.


def blocks_pair(seed, shape=(120, 160)):
  """Image of flat palette-coloured cells (sizes 6..30) and label = colour index."""
  rng = np.random.default_rng(seed)
  cuts = [np.unique(np.r_[0, np.cumsum(rng.integers(6, 30, n)), n]) for n in shape]
  cuts = [c[c <= n] for c, n in zip(cuts, shape)]
  label = np.zeros(shape, np.uint8)
  for y0, y1 in zip(cuts[0][:-1], cuts[0][1:]):
    for x0, x1 in zip(cuts[1][:-1], cuts[1][1:]):
      label[y0:y1, x0:x1] = rng.integers(0, len(PALETTE))
  return PALETTE[label], label


def assert_aligned(image, label):
  """Pure palette pixels carry their colour's label; ignore pixels are padding."""
  pure = np.abs(image[:, :, None, :].astype(int) - PALETTE[None, None].astype(int)).max(-1) <= 1
  has_pure = pure.any(-1)
  assert np.all(label[has_pure] == pure.argmax(-1)[has_pure])
  assert np.all(image[label == 255] == PAD)
  # Most real pixels are pure colour: the test is not vacuous.
  assert has_pure[label != 255].mean() > 0.5


def test_alignment_check_catches_a_one_pixel_shift():
  image, label = blocks_pair(0)
  assert_aligned(image, label)
  with pytest.raises(AssertionError):
    assert_aligned(image, np.roll(label, 1, axis=1))


@pytest.mark.parametrize('scale', [0.37, 0.5, 0.8, 1.0, 1.7, 2.0])
def test_resample_window_equals_full_resize_then_slice(scale):
  rng = np.random.default_rng(int(scale * 100))
  image = rng.integers(0, 256, (97, 131, 3), np.uint8)
  label = rng.integers(0, 20, (97, 131), np.uint8)
  sh, sw = augment.scaled_shape(label.shape, scale)
  full_img = np.asarray(Image.fromarray(image).resize((sw, sh), Image.Resampling.BILINEAR))
  full_lbl = np.asarray(Image.fromarray(label).resize((sw, sh), Image.Resampling.NEAREST))
  for _ in range(20):
    y0, x0 = rng.integers(0, sh), rng.integers(0, sw)
    y1, x1 = rng.integers(y0 + 1, sh + 1), rng.integers(x0 + 1, sw + 1)
    img, lbl = augment.resample_window(image, label, (sh, sw), (y0, y1, x0, x1))
    # Fixed-point rounding in PIL may differ by one level; geometry must not.
    assert np.abs(img.astype(int) - full_img[y0:y1, x0:x1]).max() <= 1
    np.testing.assert_array_equal(lbl, full_lbl[y0:y1, x0:x1])


def test_scale_crop_pads_with_ignore_and_image_pad():
  image, label = blocks_pair(0, (50, 60))
  img, lbl = augment.scale_crop(image, label, 1.0, (-10, -20), (128, 128), image_pad=PAD)
  np.testing.assert_array_equal(lbl[10:60, 20:80], label)
  np.testing.assert_array_equal(img[10:60, 20:80], image)
  assert (lbl == 255).sum() == 128 * 128 - 50 * 60
  assert np.all(img[lbl == 255] == PAD)


@pytest.mark.parametrize('seed', range(12))
def test_augment_keeps_image_and_label_aligned(seed):
  image, label = blocks_pair(seed)
  rng = np.random.default_rng(seed)
  center = (rng.uniform(0, 119), rng.uniform(0, 159)) if seed % 2 else None
  img, lbl = augment.augment(image, label, rng, (96, 112), center=center, blur_prob=0.0,
                             color_jitter=0.0, image_pad=PAD)
  assert img.shape == (96, 112, 3) and lbl.shape == (96, 112)
  assert img.dtype == np.uint8 and lbl.dtype == np.uint8
  assert_aligned(img, lbl)


def test_flip_mirrors_both():
  image, label = blocks_pair(3)
  flips = set()
  for seed in range(8):
    kw = dict(scale_range=(1.0, 1.0), blur_prob=0.0, color_jitter=0.0, center=(59.5, 79.5),
              center_jitter=0.0)
    img, lbl = augment.augment(image, label, np.random.default_rng(seed), (120, 160), **kw)
    flipped = np.array_equal(lbl, label[:, ::-1])
    assert flipped or np.array_equal(lbl, label)
    np.testing.assert_array_equal(img, image[:, ::-1] if flipped else image)
    flips.add(flipped)
  assert flips == {True, False}


def test_small_image_is_padded_with_ignore_label():
  image, label = blocks_pair(4, (50, 60))
  img, lbl = augment.augment(image, label, np.random.default_rng(0), (128, 128),
                             scale_range=(1.0, 1.0), blur_prob=0.0, color_jitter=0.0,
                             image_pad=PAD)
  assert (lbl != 255).sum() == 50 * 60
  assert_aligned(img, lbl)


def test_centred_crop_contains_the_centroid_region():
  label = np.zeros((300, 400), np.uint8)
  label[40:50, 350:360] = 1  # Centroid (44.5, 354.5), near the right edge.
  image = PALETTE[label]
  for seed in range(10):
    rng = np.random.default_rng(seed)
    _, lbl = augment.augment(image, label, rng, (64, 64), scale_range=(1.5, 1.5),
                             center=(44.5, 354.5), center_jitter=0.0, flip=False,
                             blur_prob=0.0, color_jitter=0.0)
    # Scaled centroid (44.5 + .5) * 1.5 - .5 = 67; crop origin 67 - 31.5 -> 36 (rounded
    # half to even), so the blob's middle is at crop pixel 31 (or 32).
    assert lbl[31, 31] == 1 and lbl[32, 32] == 1
    assert (lbl == 1).sum() == 15 * 15
  for seed in range(20):
    _, lbl = augment.augment(image, label, np.random.default_rng(seed), (64, 64),
                             center=(44.5, 354.5), center_jitter=0.1)
    assert (lbl == 1).any()
    # The scaled image (>= 150x200) is larger than the crop: clipping, not padding.
    assert not (lbl == 255).any()


def test_augment_is_deterministic_given_the_rng():
  image, label = blocks_pair(5)
  out = [augment.augment(image, label, np.random.default_rng(s), (64, 64), blur_prob=0.5)
         for s in (7, 7, 8)]
  np.testing.assert_array_equal(out[0][0], out[1][0])
  np.testing.assert_array_equal(out[0][1], out[1][1])
  assert not np.array_equal(out[0][0], out[2][0])


def test_colour_jitter_identity_and_gray_stays_gray():
  rng = np.random.default_rng(0)
  image = rng.integers(0, 256, (20, 30, 3), np.uint8)
  np.testing.assert_array_equal(augment.jitter_colors(image, rng, 0.0), image)
  gray = np.repeat(rng.integers(0, 256, (20, 30, 1), np.uint8), 3, axis=2)
  out = augment.jitter_colors(gray, rng, 0.1).astype(int)
  assert np.abs(out - out[..., :1]).max() <= 1
  jittered = augment.jitter_colors(image, np.random.default_rng(1), 0.1).astype(int)
  assert 0 < np.abs(jittered - image).mean() < 40


def test_hue_rotation_by_a_third_turn_maps_red_to_green():
  rotation = augment._hue_rotation(2 * np.pi / 3)
  np.testing.assert_allclose(rotation @ [1, 0, 0], [0, 1, 0], atol=1e-12)


def test_resize_pair_shapes():
  image, label = blocks_pair(6, (360, 480))
  img, lbl = augment.resize_pair(image, label, 0.5)
  assert img.shape == (180, 240, 3) and lbl.shape == (180, 240)
  np.testing.assert_array_equal(lbl, label[1::2, 1::2])


@pytest.mark.parametrize('seed', range(6))
def test_extra_map_gets_the_labels_geometry(seed):
  """Soft labels ride along: a map equal to the label (plus one) comes out as the
  label's crop (plus one) inside the image and 0 in the padding, flips included."""
  image, label = blocks_pair(seed)
  extra = np.stack([label.astype(np.float32) + 1, np.full(label.shape, 0.5, np.float32)], -1)
  kwargs = dict(scale_range=(0.4, 1.6), blur_prob=0.0, color_jitter=0.0, image_pad=PAD)
  img, lbl = augment.augment(image, label, np.random.default_rng(seed), (96, 112), **kwargs)
  img2, lbl2, ext = augment.augment(image, label, np.random.default_rng(seed), (96, 112),
                                    extra=extra, **kwargs)
  np.testing.assert_array_equal(img, img2)  # same draws with or without the extra map
  np.testing.assert_array_equal(lbl, lbl2)
  assert ext.shape == (96, 112, 2) and ext.dtype == np.float32
  inside = lbl != 255
  np.testing.assert_array_equal(ext[..., 0][inside], lbl[inside].astype(np.float32) + 1)
  np.testing.assert_array_equal(ext[..., 1], np.where(inside, 0.5, 0.0))
