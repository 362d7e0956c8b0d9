"""Training augmentation of paper section 4.2, in numpy and PIL.

Random scale (0.5-2.0), a crop (optionally centred on a class centroid, paper
section 3.2), horizontal flip, Gaussian blur and colour jitter 0.1. Every random
draw comes from the `rng` passed in (never the global RNG), so grain's
`random_map` gives the same crop for the same record, seed and epoch.

Geometry convention (PIL's): an axis of n pixels scaled to m = round(n * s)
pixels has factor f = m / n, and scaled pixel i samples the source at the
continuous position (i + 0.5) / f, where source pixel k spans [k, k + 1).
Images interpolate bilinearly there (PIL, antialiased when shrinking); labels
take the source pixel containing that point (nearest neighbour), so image and
label stay aligned whatever the scale. The crop is cut in scaled coordinates
but only its window is resampled, from a source window a little wider than the
filter support: the same pixels as resizing the whole image first, for a
fraction of the cost.
"""
import math

import numpy as np
from PIL import Image, ImageFilter, ImageStat

from stseg_jax.data.labels import IGNORE_LABEL

# ITU-R 601 luma, as PIL's RGB -> L conversion.
_LUMA = np.array([0.299, 0.587, 0.114])


def scaled_shape(shape, scale):
  """(h, w) of an image of shape (h, w, ...) resized by `scale`."""
  return max(1, round(shape[0] * scale)), max(1, round(shape[1] * scale))


def to_scaled(point, shape, scaled_hw):
  """A (y, x) source pixel position in scaled pixel coordinates."""
  return tuple((p + 0.5) * m / n - 0.5 for p, n, m in zip(point, shape, scaled_hw))


def _nearest_index(lo, hi, n, m):
  """Source pixels under scaled pixels lo..hi-1 (n source, m scaled pixels)."""
  return np.minimum(((np.arange(lo, hi) + 0.5) * n / m).astype(np.int64), n - 1)


def _source_span(lo, hi, n, m):
  """Source pixels [s0, s1) the bilinear filter reads for scaled lo..hi-1."""
  # Antialiased bilinear reads up to max(1, n / m) source pixels either side.
  margin = math.ceil(max(1.0, n / m)) + 1
  return max(0, math.floor(lo * n / m) - margin), min(n, math.ceil(hi * n / m) + margin)


def _label_window(label, scaled_hw, window, flip=False):
  """Nearest-neighbour label for the window; a flip just reverses the columns."""
  (h, w), (sh, sw), (y0, y1, x0, x1) = label.shape[:2], scaled_hw, window
  cols = _nearest_index(x0, x1, w, sw)
  return label[np.ix_(_nearest_index(y0, y1, h, sh), cols[::-1] if flip else cols)]


def _image_window(image, scaled_hw, window):
  """Bilinear image for the window, as a PIL image."""
  (h, w), (sh, sw), (y0, y1, x0, x1) = image.shape[:2], scaled_hw, window
  r0, r1 = _source_span(y0, y1, h, sh)
  c0, c1 = _source_span(x0, x1, w, sw)
  # Box edges as a * n / m (multiply first) so a full-width edge is exactly n.
  box = (x0 * w / sw - c0, y0 * h / sh - r0, x1 * w / sw - c0, y1 * h / sh - r0)
  src = Image.fromarray(np.ascontiguousarray(image[r0:r1, c0:c1]))
  return src.resize((x1 - x0, y1 - y0), Image.Resampling.BILINEAR, box=box)


def resample_window(image, label, scaled_hw, window):
  """Window (y0, y1, x0, x1) of the pair resized to `scaled_hw`, as numpy.

  The window is in scaled pixels and must lie inside the scaled image; the
  result equals resizing the whole pair and slicing.
  """
  image = np.asarray(_image_window(image, scaled_hw, window))
  return image, _label_window(label, scaled_hw, window)


def resize_pair(image, label, scale):
  """Whole image (bilinear) and label (nearest) resized by `scale`."""
  sh, sw = scaled_shape(label.shape, scale)
  return resample_window(image, label, (sh, sw), (0, sh, 0, sw))


def crop_window(scaled_hw, crop_hw, origin):
  """Part of the crop at `origin` inside the scaled image, and where it goes.

  Returns (y0, y1, x0, x1) in scaled pixels and the (row, col) offset of that
  window in the crop; the rest of the crop is padding.
  """
  (sh, sw), (ch, cw), (oy, ox) = scaled_hw, crop_hw, origin
  y0, y1 = max(0, oy), min(sh, oy + ch)
  x0, x1 = max(0, ox), min(sw, ox + cw)
  return (y0, y1, x0, x1), (y0 - oy, x0 - ox)


def paste(window, crop_hw, offset, fill):
  """A crop_hw canvas filled with `fill`, with `window` placed at `offset`."""
  canvas = np.empty(tuple(crop_hw) + window.shape[2:], window.dtype)
  canvas[...] = fill
  oy, ox = offset
  canvas[oy:oy + window.shape[0], ox:ox + window.shape[1]] = window
  return canvas


def scale_crop(image, label, scale, origin, crop_hw, *, ignore_label=IGNORE_LABEL, image_pad=0):
  """Deterministic scale, then crop at `origin` (scaled pixels; may be negative)."""
  scaled_hw = scaled_shape(label.shape, scale)
  window, offset = crop_window(scaled_hw, crop_hw, origin)
  img, lbl = resample_window(image, label, scaled_hw, window)
  return paste(img, crop_hw, offset, image_pad), paste(lbl, crop_hw, offset, ignore_label)


def origin_range(scaled, crop):
  """Allowed crop origins on one axis: inside the image, or covering it if smaller."""
  return min(0, scaled - crop), max(0, scaled - crop)


def draw_origin(rng, scaled_hw, crop_hw, center_scaled=None, center_jitter=0.1):
  """Crop origin: uniform, or centred on a point (scaled pixels) plus jitter."""
  origin = []
  for axis in range(2):
    lo, hi = origin_range(scaled_hw[axis], crop_hw[axis])
    if center_scaled is None:
      origin.append(int(rng.integers(lo, hi + 1)))
      continue
    jitter = rng.uniform(-center_jitter, center_jitter) * crop_hw[axis]
    # Put the point on the crop's middle pixel, (crop - 1) / 2.
    start = round(center_scaled[axis] - (crop_hw[axis] - 1) / 2 + jitter)
    origin.append(int(np.clip(start, lo, hi)))
  return tuple(origin)


def _hue_rotation(theta):
  """Rotation by theta about the gray axis (1, 1, 1) (Rodrigues' formula)."""
  u = np.ones(3) / np.sqrt(3)
  cross = np.array([[0, -u[2], u[1]], [u[2], 0, -u[0]], [-u[1], u[0], 0]])
  return np.cos(theta) * np.eye(3) + np.sin(theta) * cross + (1 - np.cos(theta)) * np.outer(u, u)


def jitter_matrix(rng, strength, mean_rgb):
  """Affine (M, t) of brightness, contrast, saturation and hue in a random order."""
  matrix, offset = np.eye(3), np.zeros(3)
  for op in rng.permutation(4):
    if op == 3:  # Hue: a fraction of a turn, as torchvision's hue factor.
      a, b = _hue_rotation(2 * np.pi * rng.uniform(-strength, strength)), 0.0
    else:
      f = rng.uniform(max(0.0, 1 - strength), 1 + strength)
      if op == 0:  # Brightness.
        a, b = f * np.eye(3), 0.0
      elif op == 1:  # Contrast, about the mean gray of the image as it is by now.
        a, b = f * np.eye(3), (1 - f) * (_LUMA @ (matrix @ mean_rgb + offset))
      else:  # Saturation, towards each pixel's own gray.
        a, b = f * np.eye(3) + (1 - f) * np.outer(np.ones(3), _LUMA), 0.0
    matrix, offset = a @ matrix, a @ offset + b
  return matrix, offset


def _jitter_pil(img, rng, strength):
  """Colour jitter of a PIL RGB image, applied as one PIL colour matrix."""
  matrix, offset = jitter_matrix(rng, strength, np.array(ImageStat.Stat(img).mean))
  # PIL wants rows (m_r, m_g, m_b, offset) per output channel; it rounds and clips.
  return img.convert('RGB', tuple(np.concatenate([matrix, offset[:, None]], 1).ravel()))


def jitter_colors(image, rng, strength=0.1):
  """torchvision-style ColorJitter(b=c=s=h=strength) as one affine colour map.

  Brightness, contrast and saturation are linear in RGB; hue is approximated
  by a rotation about the gray axis (the plane where HSV hue is an angle), which
  keeps grays gray. Composing them and rounding once is faster than four passes
  and does not clip between steps.
  """
  return np.asarray(_jitter_pil(Image.fromarray(image), rng, strength))


def _photometric(img, rng, blur_prob, blur_sigma, color_jitter, grayscale_prob):
  """Blur, colour jitter and grey of a PIL image, each drawn from `rng` in that order."""
  if blur_prob > 0 and rng.random() < blur_prob:
    img = img.filter(ImageFilter.GaussianBlur(rng.uniform(*blur_sigma)))
  if color_jitter > 0:
    img = _jitter_pil(img, rng, color_jitter)
  if grayscale_prob > 0 and rng.random() < grayscale_prob:  # no draw at 0: streams unchanged
    img = img.convert('L').convert('RGB')
  return img


def strong_view(image, rng, *, blur_prob=0.5, blur_sigma=(0.15, 1.3), color_jitter=0.5,
                grayscale_prob=0.2):
  """Another view of an augmented crop (HxWx3 uint8): the same pixels' geometry,
  stronger blur, colour jitter and grey (online self-training's strong view)."""
  img = _photometric(Image.fromarray(image), rng, blur_prob, blur_sigma, color_jitter,
                     grayscale_prob)
  return np.asarray(img)


def augment(image, label, rng, crop_size, *, scale_range=(0.5, 2.0), center=None,
            center_jitter=0.1, flip=True, blur_prob=0.5, blur_sigma=(0.15, 1.3),
            color_jitter=0.1, grayscale_prob=0.0, ignore_label=IGNORE_LABEL, image_pad=0,
            extra=None):
  """Random scale, crop (centred on `center` if given), flip, blur, colour jitter.

  image: HxWx3 uint8; label: HxW uint8; center: (y, x) in source pixels, e.g. a
  class centroid. Returns a crop_size image and label; padding is `image_pad`
  in the image and `ignore_label` in the label. The blur sigma range is ours
  (the paper gives none): mild, so thin classes survive. `grayscale_prob`:
  the crop turned grey (strong augmentation of pseudo-labelled crops). `extra`, an HxWxC
  per-pixel map (e.g. a teacher's soft labels), gets the label's geometry
  (nearest neighbour, zero padding) and comes back as a third output.
  """
  crop_hw = tuple(crop_size)
  scaled_hw = scaled_shape(label.shape, rng.uniform(*scale_range))
  center_scaled = None if center is None else to_scaled(center, label.shape, scaled_hw)
  origin = draw_origin(rng, scaled_hw, crop_hw, center_scaled, center_jitter)
  window, (oy, ox) = crop_window(scaled_hw, crop_hw, origin)
  flipped = bool(flip and rng.random() < 0.5)
  lbl = _label_window(label, scaled_hw, window, flipped)
  # Work on the window only, in PIL, and pad last so padding keeps its value.
  img = _image_window(image, scaled_hw, window)
  if flipped:
    img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    ox = crop_hw[1] - ox - lbl.shape[1]  # Mirror where the window sits.
  img = _photometric(img, rng, blur_prob, blur_sigma, color_jitter, grayscale_prob)
  out = (paste(np.asarray(img), crop_hw, (oy, ox), image_pad),
         paste(lbl, crop_hw, (oy, ox), ignore_label))
  if extra is None:
    return out
  return out + (paste(_label_window(extra, scaled_hw, window, flipped), crop_hw, (oy, ox), 0),)
