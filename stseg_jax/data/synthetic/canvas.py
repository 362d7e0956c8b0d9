"""A z-buffered rasteriser for the synthetic scenes: convex polygons, ellipses, rectangles.

Coordinates are screen units of one image height: u grows rightwards from the image centre,
v downwards from the top edge. A pixel belongs to a shape when its centre does, so a shape
covers the same screen area at every resolution, only sampled more finely.
"""
import math

import numpy as np


class Canvas:
  """Colour, label and depth buffers; every write keeps the nearer surface.

  The colour buffer is channel-first, (3, H, W): numpy broadcasts over a trailing axis of 3
  several times slower than over whole rows.
  """

  def __init__(self, height, width):
    self.height, self.width = height, width
    self.image = np.zeros((3, height, width), np.float32)
    self.label = np.zeros((height, width), np.uint8)
    self.depth = np.full((height, width), np.inf, np.float32)
    self.u = ((np.arange(width) + 0.5 - width / 2) / height).astype(np.float32)
    self.v = ((np.arange(height) + 0.5) / height).astype(np.float32)
    self._umax = width / height

  def window(self, u0, u1, v0, v1):
    """Slices and pixel-centre grids of the pixels inside a screen rectangle, or None."""
    h, w = self.height, self.width
    # Clamp first: points close to the camera plane project to huge coordinates.
    u0, u1 = max(u0, -self._umax), min(u1, self._umax)
    v0, v1 = max(v0, -1.0), min(v1, 2.0)
    c0 = max(math.ceil(u0 * h + w / 2 - 0.5), 0)
    c1 = min(math.floor(u1 * h + w / 2 - 0.5) + 1, w)
    r0 = max(math.ceil(v0 * h - 0.5), 0)
    r1 = min(math.floor(v1 * h - 0.5) + 1, h)
    if c0 >= c1 or r0 >= r1:
      return None
    return (slice(r0, r1), slice(c0, c1)), self.v[r0:r1, None], self.u[None, c0:c1]

  def paint(self, sl, mask, label, colour, depth, alpha=1.0):
    """Write label and colour where `mask` holds and nothing nearer is there yet.

    `label` is an id or an array over the window; `colour` an RGB triple, a (3, h, w) array,
    or a shader called with the indices of the pixels actually written that returns their
    (3, n) colours (so hidden surfaces cost no shading).
    """
    zbuf = self.depth[sl]
    hit = depth <= zbuf
    if mask is not None:
      hit &= mask
    image = self.image[(slice(None),) + sl]
    if not callable(colour):
      # copyto with a mask beats gathering indices when the colour is known up front.
      np.copyto(zbuf, depth, where=hit)
      np.copyto(self.label[sl], label, where=hit)
      if np.ndim(colour) == 1:
        colour = np.reshape(colour, (3, 1, 1))
      if alpha != 1.0:  # the background shows through (wire mesh) under this label
        colour = image * (1.0 - alpha) + colour * alpha
      np.copyto(image, colour, where=hit)
      return
    idx = np.nonzero(hit)
    if not len(idx[0]):
      return
    zbuf[idx] = np.broadcast_to(depth, hit.shape)[idx] if np.ndim(depth) else depth
    self.label[sl][idx] = label
    colour = colour(idx)
    at = (slice(None),) + idx
    image[at] = colour if alpha == 1.0 else image[at] * (1.0 - alpha) + colour * alpha

  def shape(self, kind, geom):
    """(slices, mask) of the pixels of a screen shape, or None when none are on screen.

    kind 'r': rectangle (u0, u1, v0, v1), mask None; 'e': ellipse (cu, cv, ru, rv);
    'p': convex polygon, a sequence of (u, v) points in either winding.
    """
    if kind == 'r':
      win = self.window(*geom)
      return None if win is None else (win[0], None)
    if kind == 'e':
      cu, cv, ru, rv = geom
      win = self.window(cu - ru, cu + ru, cv - rv, cv + rv)
      if win is None or ru <= 0 or rv <= 0:
        return None
      sl, v, u = win
      return sl, np.square((u - cu) * (1.0 / ru)) + np.square((v - cv) * (1.0 / rv)) <= 1.0
    us, vs = [float(p[0]) for p in geom], [float(p[1]) for p in geom]
    win = self.window(min(us), max(us), min(vs), max(vs))
    if win is None:
      return None
    sl, v, u = win
    n = len(us)
    edges = [(us[i], vs[i], us[(i + 1) % n], vs[(i + 1) % n]) for i in range(n)]
    side = 1.0 if sum(u0 * v1 - u1 * v0 for u0, v0, u1, v1 in edges) >= 0 else -1.0
    # Inside = on the same side of every edge: a*u + b*v + c >= 0 with the winding's sign,
    # all edges in one broadcast (cheaper than a loop for the small windows typical here).
    coef = np.array([((v0 - v1) * side, (u1 - u0) * side, ((v1 - v0) * u0 - (u1 - u0) * v0) * side)
                     for u0, v0, u1, v1 in edges], np.float32)[:, :, None, None]
    mask = (coef[:, 0] * u + (coef[:, 1] * v + coef[:, 2]) >= 0).all(0)
    return sl, mask

  def fill(self, kind, geom, label, colour, depth, alpha=1.0):
    """Paint one shape (see `shape`) at one depth."""
    got = self.shape(kind, geom)
    if got is not None:
      self.paint(*got, label, colour, depth, alpha)

  def layer(self, shapes, depth):
    """Paint (kind, geom, label, colour, alpha) shapes in order as one flat layer at one depth.

    One z-test for the whole layer instead of one per shape; alpha blends with the shapes
    below in the same layer.
    """
    got = [(self.shape(kind, geom), rest) for kind, geom, *rest in shapes]
    got = [(g[0], g[1], rest) for g, rest in got if g is not None]
    if not got:
      return
    r0, r1 = min(sl[0].start for sl, _, _ in got), max(sl[0].stop for sl, _, _ in got)
    c0, c1 = min(sl[1].start for sl, _, _ in got), max(sl[1].stop for sl, _, _ in got)
    label = np.zeros((r1 - r0, c1 - c0), np.uint8)
    colour = np.zeros((3, r1 - r0, c1 - c0), np.float32)
    covered = np.zeros((r1 - r0, c1 - c0), bool)
    for sl, mask, (lab, col, *alpha) in got:
      loc = (slice(sl[0].start - r0, sl[0].stop - r0), slice(sl[1].start - c0, sl[1].stop - c0))
      where = True if mask is None else mask
      np.copyto(label[loc], lab, where=where)
      under = colour[(slice(None),) + loc]
      col = np.reshape(col, (3, 1, 1))
      if alpha and alpha[0] != 1.0:
        col = under * (1.0 - alpha[0]) + col * alpha[0]
      np.copyto(under, col, where=where)
      covered[loc] |= where
    self.paint((slice(r0, r1), slice(c0, c1)), covered, label, colour, depth)

  def polygon(self, pts, label, colour, depth, alpha=1.0):
    """Fill a convex polygon given as a sequence of (u, v) screen points in either winding."""
    self.fill('p', pts, label, colour, depth, alpha)

  def ellipse(self, cu, cv, ru, rv, label, colour, depth, alpha=1.0):
    """Fill an axis-aligned ellipse."""
    self.fill('e', (cu, cv, ru, rv), label, colour, depth, alpha)


def upsample(grid, height, width):
  """Bilinear resize of a small (h, w, ...) grid to (height, width, ...) at pixel centres."""
  def taps(n, m):
    x = (np.arange(n, dtype=np.float32) + 0.5) * ((m - 1) / n)
    i = np.minimum(x.astype(np.int32), m - 2)
    return i, (x - i).astype(np.float32)
  ri, rt = taps(height, grid.shape[0])
  ci, ct = taps(width, grid.shape[1])
  extra = (1,) * (grid.ndim - 2)
  rt, ct = rt.reshape((-1, 1) + extra), ct.reshape((1, -1) + extra)
  rows = grid[ri] * (1 - rt) + grid[ri + 1] * rt
  return rows[:, ci] * (1 - ct) + rows[:, ci + 1] * ct


def box_blur(image, radius, axes=(0, 1)):
  """Box filter of half-width `radius` pixels along two axes, replicating the edges."""
  n = 2 * radius + 1
  for axis in axes:
    pad = [(0, 0)] * image.ndim
    pad[axis] = (radius, radius)
    padded = np.pad(image, pad, mode='edge')
    size = image.shape[axis]
    shifted = lambda k, axis=axis: padded[(slice(None),) * axis + (slice(k, k + size),)]
    out = shifted(0).copy()
    for k in range(1, n):
      out += shifted(k)
    out *= 1.0 / n
    image = out
  return image
