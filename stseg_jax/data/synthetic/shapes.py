"""The renderer's drawing kit: camera, colour helpers, surfaces in perspective, flat sprites.

Geometry is in the street frame (metres; X right, Y up, Z forward, camera at the origin).
Every function here draws all its random numbers whatever is visible, and the canvas skips
what is off screen, so one seed gives one scene at every resolution.
"""
import math
from typing import NamedTuple

import numpy as np


DARK = np.array((24, 24, 26), np.float32)


class Camera(NamedTuple):
  """Pinhole camera at the origin looking down +Z, in screen units of one image height."""
  focal: float
  height: float
  u0: float  # the street's vanishing point
  v0: float  # the horizon

  def project(self, x, y, z):
    return self.u0 + self.focal * x / z, self.v0 + self.focal * (self.height - y) / z


def wrap(a, period):
  """a modulo period for float arrays (several times faster than %)."""
  q = a * (1.0 / period)
  return (q - np.floor(q)) * period


def mix(choice, *colours):
  """(3, n) colours: colours[choice] for a 1-D integer or boolean choice array."""
  return np.take(np.asarray(colours, np.float32).T, choice.astype(np.uint8), axis=1)


def pick(rng, options):
  """One element of a sequence."""
  return options[int(rng.integers(len(options)))]


def tone(rng, rgb, spread=0.08):
  """A float colour near `rgb`: brightness jitter and a little hue jitter."""
  j0, j1, j2, j3 = rng.random(4).tolist()  # plain floats: this runs hundreds of times a scene
  level, hue = 1.0 + spread * (2 * j0 - 1), spread / 3
  r, g, b = rgb
  return np.array((r * level * (1 + hue * (2 * j1 - 1)), g * level * (1 + hue * (2 * j2 - 1)),
                   b * level * (1 + hue * (2 * j3 - 1))), np.float32)


def plane_x(cv, cam, x, z0, z1, y0, y1, label, paint, alpha=1.0, cutout=None):
  """The face on plane X = x between depths z0..z1 and heights y0..y1, at true depth.

  `paint` is a colour or a shader `paint(a, y) -> (3, n) colours` of the distance a along the
  face from z0 and the height y (metres, 1-D arrays of the visible pixels); `cutout(a, y)` is an
  optional mask of the parts that exist (fence bars, a tree line's crown).
  """
  us = [cam.u0 + cam.focal * x / z for z in (z0, z1)]
  vs = [cam.v0 + cam.focal * (cam.height - y) / z for y in (y0, y1) for z in (z0, z1)]
  win = cv.window(min(us), max(us), min(vs), max(vs))
  if win is None:
    return
  sl, v, u = win
  with np.errstate(divide='ignore', invalid='ignore'):
    z = cam.focal * x / (u - cam.u0)
    y = cam.height - (v - cam.v0) * (z / cam.focal)
  mask = (z >= z0) & (z <= z1) & (y >= y0) & (y <= y1)
  if cutout is not None:
    mask &= cutout(z - z0, y)
  cv.paint(sl, mask, label, _lazy(paint, z - z0, y), z, alpha)


def plane_z(cv, cam, x0, x1, y0, y1, z, label, paint, alpha=1.0):
  """The face on plane Z = z facing the camera; `paint` as for plane_x, a measured from x0."""
  ua, va = cam.project(x0, y1, z)
  ub, vb = cam.project(x1, y0, z)
  win = cv.window(ua, ub, va, vb)
  if win is None:
    return
  sl, v, u = win
  a = (u - cam.u0) * (z / cam.focal) - x0
  y = cam.height - (v - cam.v0) * (z / cam.focal)
  cv.paint(sl, None, label, _lazy(paint, a, y), z, alpha)


def plane_y(cv, cam, x0, x1, z0, z1, y, label, colour):
  """The horizontal face at height y (below the camera) over x0..x1, z0..z1, at true depth."""
  us = [cam.u0 + cam.focal * x / z for x in (x0, x1) for z in (z0, z1)]
  vs = [cam.v0 + cam.focal * (cam.height - y) / z for z in (z0, z1)]
  win = cv.window(min(us), max(us), min(vs), max(vs))
  if win is None:
    return
  sl, v, u = win
  with np.errstate(divide='ignore'):
    z = cam.focal * (cam.height - y) / (v - cam.v0)
  x = (u - cam.u0) * (z / cam.focal)
  mask = (z >= z0) & (z <= z1) & (x >= x0) & (x <= x1)
  cv.paint(sl, mask, label, colour, z)


def _lazy(paint, a, y):
  """A colour, or a canvas shader that evaluates `paint` only on the pixels written."""
  if not callable(paint):
    return paint
  shape = np.broadcast_shapes(np.shape(a), np.shape(y))
  return lambda idx: paint(np.broadcast_to(a, shape)[idx], np.broadcast_to(y, shape)[idx])


def box(cv, cam, x0, x1, y0, y1, z0, z1, label, colour, front=None, side=None):
  """A solid block: the top if seen, the side facing the camera, then the front face."""
  colour = np.asarray(colour, np.float32)
  if y1 < cam.height:
    plane_y(cv, cam, x0, x1, z0, z1, y1, label, colour * 1.1)
  if x1 < 0 or x0 > 0:
    plane_x(cv, cam, x1 if x1 < 0 else x0, z0, z1, y0, y1, label,
            colour * 0.8 if side is None else side)
  plane_z(cv, cam, x0, x1, y0, y1, z0, label, colour if front is None else front)


def glass_panel(body, glass, x_lo, x_hi, y_lo, y_hi, pillar=0.0, period=1.0):
  """Shader: `glass` inside a window rectangle (cut by pillars every `period`), else `body`."""
  def paint(a, y):
    inside = (a > x_lo) & (a < x_hi) & (y > y_lo) & (y < y_hi)
    if pillar:
      inside &= wrap(a - x_lo, period) > pillar
    return mix(inside, body, glass)
  return paint


def wheel_side(cv, cam, x, zc, r, label, depth, hub=(150, 150, 150)):
  """A wheel on the side plane X = x centred at depth zc, as a tyre with a lighter hub."""
  ua, _ = cam.project(x, r, zc - r)
  ub, _ = cam.project(x, r, zc + r)
  uc, vc = cam.project(x, r, zc)
  ru, rv = abs(ua - ub) / 2, cam.focal * r / zc
  cv.ellipse(uc, vc, ru, rv, label, DARK, depth)
  cv.ellipse(uc, vc, ru * 0.5, rv * 0.5, label, np.asarray(hub, np.float32), depth)


def sprite(cv, cam, x, z, parts):
  """Draw flat parts, given in metres around the ground point x, on the upright plane Z = z.

  A part is (kind, geometry, label, colour[, alpha]): 'p' a convex polygon of points, 'e' an
  ellipse (cx, cy, rx, ry), 'r' a rectangle (x0, y0, x1, y1). Later parts cover earlier ones.
  """
  s = cam.focal / z
  u, v = cam.u0 + s * x, cam.v0 + s * cam.height
  shapes = []
  for kind, geom, *rest in parts:
    if kind == 'e':
      cx, cy, rx, ry = geom
      geom = (u + s * cx, v - s * cy, s * rx, s * ry)
    elif kind == 'r':
      x0, y0, x1, y1 = geom
      geom = (u + s * x0, u + s * x1, v - s * y1, v - s * y0)
    else:
      geom = [(u + s * px, v - s * py) for px, py in geom]
    shapes.append((kind, geom, *rest))
  cv.layer(shapes, z)


def seg(p, q, width):
  """The quad of a thick line from p to q."""
  (x0, y0), (x1, y1) = p, q
  n = math.hypot(x1 - x0, y1 - y0) or 1.0
  ox, oy = -(y1 - y0) / n * width / 2, (x1 - x0) / n * width / 2
  return ((x0 + ox, y0 + oy), (x1 + ox, y1 + oy), (x1 - ox, y1 - oy), (x0 - ox, y0 - oy))


def mirror(parts):
  """The same parts facing the other way (x negated)."""
  out = []
  for kind, geom, *rest in parts:
    if kind == 'e':
      geom = (-geom[0],) + tuple(geom[1:])
    elif kind == 'r':
      geom = (-geom[2], geom[1], -geom[0], geom[3])
    else:
      geom = [(-px, py) for px, py in geom]
    out.append((kind, geom, *rest))
  return out
