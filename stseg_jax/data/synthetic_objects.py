"""Things in the synthetic street: vehicles, people, bikes, poles, signs, lights and trees.

Geometry is in the street frame (metres; X right, Y up, Z forward, camera at the origin).
Every function here draws all its random numbers whatever is visible, and the canvas skips
what is off screen, so one seed gives one scene at every resolution.
"""
import math
from typing import NamedTuple

import numpy as np

(ROAD, SIDEWALK, BUILDING, WALL, FENCE, POLE, LIGHT, SIGN, VEGETATION, TERRAIN, SKY, PERSON, RIDER,
 CAR, TRUCK, BUS, TRAIN, MOTORCYCLE, BICYCLE, MARKING, CROSSWALK) = range(21)

DARK = np.array((24, 24, 26), np.float32)
_GLASS = (44, 52, 62)
_SKIN = ((235, 200, 170), (200, 150, 115), (150, 100, 70), (95, 65, 45))
_HAIR = ((30, 25, 20), (70, 45, 25), (150, 110, 60), (120, 120, 120))


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


# ---------------------------------------------------------------- surfaces in perspective


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


# ---------------------------------------------------------------- flat sprites


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


# ---------------------------------------------------------------- vehicles


def car(cv, cam, rng, sty, look, x, z, facing, crossing=False):
  """A car centred on x with its nearest end at z; facing +1 drives away, -1 comes towards us.

  crossing=True turns it across the street (its side faces the camera).
  """
  w, length = rng.uniform(1.7, 1.95), rng.uniform(4.0, 4.9)
  belt, roof = rng.uniform(0.85, 1.0), rng.uniform(1.38, 1.6)
  body = tone(rng, pick(rng, sty['cars']), 0.08)
  glass = tone(rng, _GLASS, 0.2)
  if crossing:
    _car_across(cv, cam, x, z, facing, w, length, belt, roof, body, glass)
    return
  x0, x1, z1 = x - w / 2, x + w / 2, z + length
  c0, c1 = (z + 0.75, z1 - 1.3) if facing > 0 else (z + 1.3, z1 - 0.75)  # the cabin
  box(cv, cam, x0, x1, 0.3, belt, z, z1, CAR, body)
  front = glass_panel(body, glass, 0.1, w - 0.34, belt + 0.05, roof - 0.07)
  side = glass_panel(body * 0.8, glass, 0.15, c1 - c0 - 0.15, belt + 0.05, roof - 0.07, 0.1,
                     (c1 - c0) / 2)
  box(cv, cam, x0 + 0.12, x1 - 0.12, belt, roof, c0, c1, CAR, body, front=front, side=side)
  if not detailed(cam, z, w):
    sprite(cv, cam, x, z, [('r', (-w / 2 + 0.08, 0.0, w / 2 - 0.08, 0.32), CAR, DARK)])
    return
  if x1 < 0 or x0 > 0:
    for zc in (z + 0.85, z1 - 0.85):
      wheel_side(cv, cam, x1 if x1 < 0 else x0, zc, 0.33, CAR, z)
  lamp = _lamp_colour(look, facing)
  parts = [('r', (-w / 2 + 0.12, 0.1, w / 2 - 0.12, 0.32), CAR, DARK),
           ('r', (-w / 2 + 0.08, 0, -w / 2 + 0.34, 0.36), CAR, DARK),
           ('r', (w / 2 - 0.34, 0, w / 2 - 0.08, 0.36), CAR, DARK),
           ('r', (-w / 2 + 0.06, belt - 0.2, -w / 2 + 0.38, belt - 0.06), CAR, lamp),
           ('r', (w / 2 - 0.38, belt - 0.2, w / 2 - 0.06, belt - 0.06), CAR, lamp),
           ('r', (-0.26, 0.42, 0.26, 0.54), CAR, (215, 215, 210))]
  sprite(cv, cam, x, z, parts)


def _car_across(cv, cam, x, z, facing, w, length, belt, roof, body, glass):
  """A car driving across the street, side on; facing +1 heads right."""
  x0, x1, z1 = x - length / 2, x + length / 2, z + w
  box(cv, cam, x0 + 0.3, x1 - 0.3, 0.12, 0.35, z + 0.1, z1 - 0.1, CAR, DARK)
  box(cv, cam, x0, x1, 0.3, belt, z, z1, CAR, body)
  c0, c1 = (x0 + 0.9, x1 - 1.3) if facing > 0 else (x0 + 1.3, x1 - 0.9)
  windows = glass_panel(body, glass, 0.08, c1 - c0 - 0.08, belt + 0.05, roof - 0.07, 0.1,
                        (c1 - c0) / 2)
  box(cv, cam, c0, c1, belt, roof, z + 0.1, z1 - 0.1, CAR, body, front=windows)
  for xc in (x0 + 0.8, x1 - 0.8):
    sprite(cv, cam, xc, z, [('e', (0, 0.33, 0.33, 0.33), CAR, DARK),
                            ('e', (0, 0.33, 0.17, 0.17), CAR, (150, 150, 150))])


def detailed(cam, z, size):
  """Whether a thing `size` metres across at depth z is big enough on screen for details.

  Decided in screen units, not pixels, so the same parts are drawn at every resolution.
  """
  return cam.focal * size / z > 0.05


def truck(cv, cam, rng, sty, look, x, z, facing):
  """A box truck: cargo box and cab, rear or front first depending on `facing`."""
  w, cargo_len, cab_len = 2.45, rng.uniform(5.0, 7.5), 2.2
  height = rng.uniform(3.0, 3.8)
  cargo = tone(rng, pick(rng, sty['trucks']), 0.06)
  cab = tone(rng, pick(rng, sty['trucks']), 0.06)
  glass = tone(rng, _GLASS, 0.2)
  lamp = _lamp_colour(look, facing)
  x0, x1 = x - w / 2, x + w / 2
  if facing > 0:
    zc, zk = z + cargo_len + 0.3, z
  else:
    zc, zk = z, z + cab_len + 0.3
  box(cv, cam, x0 + 0.15, x1 - 0.15, 0.15, 1.0, z + 0.3, z + cargo_len + cab_len, TRUCK, DARK)
  screen = glass_panel(cab, glass, 0.15, w - 0.15, 1.65, 2.65)
  box(cv, cam, x0, x1, 0.5, 2.9, zc, zc + cab_len, TRUCK, cab, front=screen)
  doors = glass_panel(cargo, cargo * 0.85, 0.05, w - 0.05, 0.95, height - 0.1, 0.05, w / 2 - 0.05)
  box(cv, cam, x0, x1, 0.9, height, zk, zk + cargo_len, TRUCK, cargo, front=doors)
  if not detailed(cam, z, w):
    sprite(cv, cam, x, z, [('r', (-w / 2 + 0.1, 0, w / 2 - 0.1, 0.9), TRUCK, DARK)])
    return
  if x1 < 0 or x0 > 0:
    xs = x1 if x1 < 0 else x0
    for zw in (z + 1.2, z + cargo_len + cab_len - 1.2, z + cargo_len - 0.2):
      wheel_side(cv, cam, xs, zw, 0.5, TRUCK, z)
  sprite(cv, cam, x, z, [('r', (-w / 2 + 0.1, 0, -w / 2 + 0.5, 0.55), TRUCK, DARK),
                         ('r', (w / 2 - 0.5, 0, w / 2 - 0.1, 0.55), TRUCK, DARK),
                         ('r', (-w / 2 + 0.1, 0.65, -w / 2 + 0.45, 0.85), TRUCK, lamp),
                         ('r', (w / 2 - 0.45, 0.65, w / 2 - 0.1, 0.85), TRUCK, lamp)])


def bus(cv, cam, rng, sty, look, x, z, facing):
  """A city bus: long box with a band of side windows and a big windscreen at the front."""
  w, length, height = 2.55, rng.uniform(10.5, 12.5), rng.uniform(3.0, 3.3)
  body = tone(rng, pick(rng, sty['buses']), 0.06)
  glass = tone(rng, _GLASS, 0.15)
  x0, x1 = x - w / 2, x + w / 2
  if facing > 0:
    front = glass_panel(body, glass, 0.25, w - 0.25, 1.9, height - 0.35)
  else:
    front = glass_panel(body, glass, 0.1, w - 0.1, 1.0, height - 0.5)
  side = glass_panel(body * 0.8, glass, 0.8, length - 0.8, 1.25, height - 0.4, 0.15, 1.45)
  box(cv, cam, x0 + 0.1, x1 - 0.1, 0.1, 0.4, z + 0.5, z + length - 0.5, BUS, DARK)
  box(cv, cam, x0, x1, 0.3, height, z, z + length, BUS, body, front=front, side=side)
  if not detailed(cam, z, w):
    return
  if x1 < 0 or x0 > 0:
    xs = x1 if x1 < 0 else x0
    for zw in (z + 2.4, z + length - 3.0):
      wheel_side(cv, cam, xs, zw, 0.5, BUS, z)
  lamp = _lamp_colour(look, facing)
  parts = [('r', (-w / 2 + 0.1, 0.55, -w / 2 + 0.45, 0.8), BUS, lamp),
           ('r', (w / 2 - 0.45, 0.55, w / 2 - 0.1, 0.8), BUS, lamp)]
  if facing < 0:  # destination display
    parts.append(('r', (-w / 2 + 0.2, height - 0.42, w / 2 - 0.2, height - 0.12), BUS, DARK))
    parts.append(('r', (-0.7, height - 0.36, 0.7, height - 0.18), BUS, (255, 160, 40)))
  sprite(cv, cam, x, z, parts)


def tram(cv, cam, rng, sty, look, x, z, facing):
  """A three-section tram with a pantograph; the only 'train' in these cities."""
  w, length, height = 2.6, rng.uniform(24.0, 32.0), 3.4
  body = tone(rng, pick(rng, sty['trams']), 0.05)
  glass = tone(rng, _GLASS, 0.15)
  x0, x1 = x - w / 2, x + w / 2
  joint = length / 3

  def side(a, y):
    kind = (y > 1.1) & (y < 2.6) & (wrap(a, 1.6) > 0.18) & (a > 0.8) & (a < length - 0.8)
    kind = kind.astype(np.uint8)
    kind[wrap(a, joint) < 0.3] = 2
    kind[y < 0.55] = 3
    return mix(kind, body * 0.8, glass, DARK, body * 0.45)

  front = glass_panel(body, glass, 0.1, w - 0.1, 1.2, 3.0)
  box(cv, cam, x0, x1, 0.25, height, z, z + length, TRAIN, body, front=front, side=side)
  grey = (60, 60, 60)
  pant = [('p', seg((-0.6, height), (0.3, height + 0.9), 0.07), TRAIN, grey),
          ('p', seg((0.3, height + 0.9), (-0.4, height + 1.7), 0.07), TRAIN, grey),
          ('r', (-0.8, height + 1.65, 0.8, height + 1.75), TRAIN, grey)]
  sprite(cv, cam, x, z + length * 0.4, pant)
  lamp = _lamp_colour(look, facing)
  sprite(cv, cam, x, z, [('r', (-w / 2 + 0.15, 0.7, -w / 2 + 0.45, 0.9), TRAIN, lamp),
                         ('r', (w / 2 - 0.45, 0.7, w / 2 - 0.15, 0.9), TRAIN, lamp)])


def _lamp_colour(look, facing):
  """Head lamps from the front, tail lamps from behind; both glow at dusk."""
  base = (250, 240, 215) if facing < 0 else (200, 30, 30)
  return np.asarray(base, np.float32) * look['glow']


# ---------------------------------------------------------------- people and bikes


def person_parts(rng, sty, view, label=PERSON, detail=True):
  """A walking or standing person: view 'front' (or back) or 'side'; metres, feet at 0.

  Without detail (far away) just legs, body and head, the same outline in fewer shapes.
  """
  skin, hair = pick(rng, _SKIN), pick(rng, _HAIR)
  top = tone(rng, pick(rng, sty['clothes']), 0.15)
  legs = tone(rng, pick(rng, sty['clothes']), 0.15)
  shoes = tone(rng, (40, 38, 36), 0.3)
  k = rng.uniform(1.6, 1.92) / 1.75 if rng.random() > 0.1 else rng.uniform(1.05, 1.4) / 1.75
  coat = rng.random() < 0.25
  back = rng.random() < 0.5
  stride = rng.uniform(-0.3, 0.3) if view == 'side' else rng.uniform(-0.05, 0.05)
  hem = 0.55 if coat else 0.86
  if view == 'side':
    parts = [('p', seg((0.02, 0.92), (stride, 0.06), 0.16), label, legs),
             ('p', seg((-0.02, 0.92), (-stride, 0.06), 0.16), label, legs * 0.85),
             ('e', (stride + 0.05, 0.04, 0.13, 0.05), label, shoes),
             ('e', (-stride + 0.05, 0.04, 0.13, 0.05), label, shoes),
             ('p', ((-0.14, hem), (0.14, hem), (0.12, 1.46), (-0.13, 1.46)), label, top),
             ('p', seg((0.0, 1.4), (-stride * 0.8, 0.9), 0.1), label, top * 0.85),
             ('e', (0.0, 1.6, 0.1, 0.125), label, skin),
             ('e', (-0.02, 1.66, 0.1, 0.08), label, hair)]
  else:
    parts = [('p', seg((-0.1, 0.92), (-0.1 - stride, 0.06), 0.16), label, legs),
             ('p', seg((0.1, 0.92), (0.1 + stride, 0.06), 0.16), label, legs),
             ('r', (-0.2 - stride, 0.0, -0.02, 0.08), label, shoes),
             ('r', (0.02, 0.0, 0.2 + stride, 0.08), label, shoes),
             ('p', ((-0.18 - 0.05 * coat, hem), (0.18 + 0.05 * coat, hem), (0.21, 1.46),
                    (-0.21, 1.46)), label, top),
             ('p', seg((-0.22, 1.42), (-0.27, 0.88), 0.1), label, top * 0.9),
             ('p', seg((0.22, 1.42), (0.27, 0.88), 0.1), label, top * 0.9),
             ('e', (0.0, 1.6, 0.1, 0.125), label, hair if back else skin),
             ('e', (0.0, 1.67, 0.105, 0.075), label, hair)]
  if rng.random() < 0.2:  # a bag
    parts.append(('r', (0.18, 0.75, 0.42, 1.05), label, tone(rng, (70, 50, 40), 0.3)))
  if not detail:
    half = 0.12 if view == 'side' else 0.2
    spread = half + abs(stride)
    parts = [('p', ((-spread, 0.0), (spread, 0.0), (half, 0.92), (-half, 0.92)), label, legs),
             parts[4], ('e', (0.0, 1.62, 0.11, 0.14), label, hair)]
  return _scaled(parts, k)


def _scaled(parts, k):
  """Parts with every coordinate multiplied by k."""
  out = []
  for kind, geom, *rest in parts:
    geom = [(px * k, py * k) for px, py in geom] if kind == 'p' else tuple(g * k for g in geom)
    out.append((kind, geom, *rest))
  return out


def rider_rear(rng, sty, motor):
  """A cyclist or motorcyclist seen from behind (or the front), vehicle and rider."""
  label = MOTORCYCLE if motor else BICYCLE
  frame = tone(rng, pick(rng, sty['cars']), 0.1)
  top = tone(rng, pick(rng, sty['clothes']), 0.15)
  legs = tone(rng, pick(rng, sty['clothes']), 0.15)
  helmet = tone(rng, pick(rng, sty['cars']), 0.1) if motor or rng.random() < 0.5 else None
  hip, bar = (0.95, 1.08) if motor else (1.0, 1.02)
  parts = [('r', (-0.32, bar - 0.03, 0.32, bar + 0.03), label, DARK)]
  parts += [('p', seg((sx * 0.13, hip), (sx * 0.2, 0.38), 0.16), RIDER, legs) for sx in (-1, 1)]
  parts += [('p', ((-0.18, hip - 0.02), (0.18, hip - 0.02), (0.22, 1.5), (-0.22, 1.5)), RIDER, top),
            ('p', seg((-0.21, 1.44), (-0.3, bar), 0.1), RIDER, top * 0.9),
            ('p', seg((0.21, 1.44), (0.3, bar), 0.1), RIDER, top * 0.9),
            ('e', (0.0, 1.64, 0.11, 0.13), RIDER, pick(rng, _HAIR) if helmet is None else helmet)]
  if motor:
    parts += [('r', (-0.26, 0.38, 0.26, 0.9), label, frame),
              ('r', (-0.1, 0.0, 0.1, 0.62), label, DARK),
              ('r', (-0.14, 0.72, 0.14, 0.82), label, (200, 30, 30))]
  else:
    parts += [('r', (-0.055, 0.0, 0.055, 0.68), label, DARK),
              ('r', (-0.09, 0.66, 0.09, 0.72), label, frame)]
  return parts


def bicycle_side(rng, sty, with_rider):
  """A bicycle side on (rider optional), facing +x."""
  frame = tone(rng, pick(rng, sty['cars']), 0.1)
  spokes = (170, 170, 170)
  parts = []
  rider = _rider_side(rng, sty, hip=(-0.15, 0.95), knee=(0.14, 0.72), foot=(0.03, 0.3),
                      shoulder=(0.12, 1.45), hand=(0.36, 1.02)) if with_rider else []
  parts += rider[:1]  # the far leg, behind the frame
  for cx in (-0.52, 0.52):
    parts += [('e', (cx, 0.34, 0.34, 0.34), BICYCLE, DARK),
              ('e', (cx, 0.34, 0.29, 0.29), BICYCLE, spokes, 0.35)]
  rear, seat, crank = (-0.52, 0.34), (-0.18, 0.84), (0.0, 0.3)
  head, front = (0.4, 0.86), (0.52, 0.34)
  for p, q in ((rear, seat), (seat, crank), (crank, rear), (seat, head), (head, crank),
               (head, front), (head, (0.37, 1.02)), ((0.28, 1.02), (0.44, 1.02)),
               ((-0.3, 0.89), (-0.08, 0.89))):
    parts.append(('p', seg(p, q, 0.065), BICYCLE, frame))
  return parts + rider[1:]


def motorcycle_side(rng, sty, with_rider):
  """A motorcycle side on (rider optional), facing +x."""
  body = tone(rng, pick(rng, sty['cars']), 0.1)
  rider = _rider_side(rng, sty, hip=(-0.28, 0.95), knee=(0.1, 0.8), foot=(0.04, 0.42),
                      shoulder=(-0.04, 1.5), hand=(0.48, 1.08), helmet=True) if with_rider else []
  parts = rider[:1]
  for cx in (-0.7, 0.7):
    parts += [('e', (cx, 0.32, 0.32, 0.32), MOTORCYCLE, DARK),
              ('e', (cx, 0.32, 0.17, 0.17), MOTORCYCLE, (140, 140, 145))]
  parts += [('p', seg((0.7, 0.32), (0.5, 1.05), 0.09), MOTORCYCLE, (120, 120, 125)),
            ('p', ((-0.45, 0.38), (0.35, 0.38), (0.55, 0.75), (0.25, 0.95), (-0.25, 0.9),
                   (-0.75, 0.72)), MOTORCYCLE, body),
            ('p', seg((-0.65, 0.88), (-0.1, 0.92), 0.1), MOTORCYCLE, DARK),
            ('p', seg((-0.3, 0.36), (-0.88, 0.46), 0.09), MOTORCYCLE, (160, 160, 165)),
            ('e', (0.6, 0.85, 0.07, 0.08), MOTORCYCLE, (240, 235, 200))]
  return parts + rider[1:]


def _rider_side(rng, sty, hip, knee, foot, shoulder, hand, helmet=False):
  """Rider parts seen side on: far leg first (drawn behind the vehicle), then the rest."""
  top = tone(rng, pick(rng, sty['clothes']), 0.15)
  legs = tone(rng, pick(rng, sty['clothes']), 0.15)
  helmet = helmet or rng.random() < 0.4
  head = tone(rng, pick(rng, sty['cars']), 0.1) if helmet else pick(rng, _SKIN)
  far = ((hip[0] - 0.05, hip[1]), (foot[0] - 0.12, foot[1] + 0.08))
  r = 0.15 if helmet else 0.12
  return [('p', seg(far[0], far[1], 0.15), RIDER, legs * 0.8),
          ('p', seg(hip, knee, 0.17), RIDER, legs),
          ('p', seg(knee, foot, 0.14), RIDER, legs),
          ('p', seg(hip, shoulder, 0.32), RIDER, top),
          ('p', seg(shoulder, hand, 0.1), RIDER, top * 0.9),
          ('e', (shoulder[0] + 0.07, shoulder[1] + 0.19, r, r * 1.05), RIDER, head)]


# ---------------------------------------------------------------- street furniture and trees


def lamp_parts(rng, sty, toward):
  """A street lamp whose arm reaches over the road in direction `toward` (+1 or -1)."""
  colour = tone(rng, pick(rng, sty['poles']), 0.08)
  h, arm = rng.uniform(6.0, 9.0), rng.uniform(1.2, 2.5)
  return [('r', (-0.14, 0.0, 0.14, h), POLE, colour),
          ('p', seg((0.0, h - 0.25), (toward * arm, h + 0.1), 0.13), POLE, colour),
          ('e', (toward * arm, h + 0.02, 0.4, 0.13), POLE, colour * 1.2)]


def sign_parts(rng, sty):
  """A traffic sign (or two) on a thin pole."""
  grey = tone(rng, (125, 128, 130), 0.1)
  h = rng.uniform(2.0, 2.8)
  parts = [('r', (-0.07, 0.0, 0.07, h + 0.3), POLE, grey)]
  for k in range(1 if rng.random() < 0.7 else 2):
    parts += _sign_face(rng, pick(rng, sty['signs']), rng.uniform(0.42, 0.6), h - k * 1.2)
  return parts


def _sign_face(rng, kind, r, cy):
  """The face of one sign of radius r centred at height cy."""
  red, white, blue = (200, 30, 35), (230, 230, 225), (30, 80, 170)
  green, yellow = (30, 120, 70), (235, 190, 30)
  if kind == 'round':
    return [('e', (0, cy, r, r), SIGN, red), ('e', (0, cy, 0.72 * r, 0.72 * r), SIGN, white),
            ('r', (-0.3 * r, cy - 0.2 * r, 0.3 * r, cy + 0.2 * r), SIGN, (30, 30, 30))]
  if kind == 'blue':
    arrow = seg((0, cy - 0.5 * r), (0, cy + 0.5 * r), 0.25 * r)
    return [('e', (0, cy, r, r), SIGN, blue), ('p', arrow, SIGN, white)]
  if kind in ('triangle', 'yield'):
    s = 1 if kind == 'triangle' else -1
    tri = lambda q: ((-q, cy - s * q * 0.6), (q, cy - s * q * 0.6), (0, cy + s * q * 1.1))
    return [('p', tri(1.1 * r), SIGN, red), ('p', tri(0.7 * r), SIGN, white)]
  if kind == 'diamond':
    d = lambda q: ((0, cy + q), (q, cy), (0, cy - q), (-q, cy))
    return [('p', d(1.15 * r), SIGN, (20, 20, 20)), ('p', d(1.05 * r), SIGN, yellow)]
  if kind == 'octagon':
    pts = [(r * math.cos(a), cy + r * math.sin(a)) for a in (np.arange(8) + 0.5) * math.pi / 4]
    bar = (-0.6 * r, cy - 0.15 * r, 0.6 * r, cy + 0.15 * r)
    return [('p', pts, SIGN, red), ('r', bar, SIGN, white)]
  if kind in ('square', 'green', 'white'):
    fill = {'square': blue, 'green': green, 'white': white}[kind]
    wide = rng.uniform(1.0, 1.8)
    rim = white if fill != white else (30, 30, 30)
    return [('r', (-wide * r, cy - r, wide * r, cy + r), SIGN, rim),
            ('r', (-wide * r + 0.05, cy - r + 0.05, wide * r - 0.05, cy + r - 0.05), SIGN, fill)]
  return [('e', (0, cy, r, r), SIGN, (150, 150, 152))]  # the back of a sign


def light_parts(rng, sty, look, x, y, facing=True):
  """One traffic light housing centred at (x, y): three lamps, one lit, or its back."""
  housing = np.asarray(sty['light_housing'], np.float32)
  w, h = 0.5, 1.3
  parts = [('r', (x - w / 2, y - h / 2, x + w / 2, y + h / 2), LIGHT, housing)]
  if facing:
    state = int(rng.integers(3))
    lit = ((255, 40, 30), (255, 190, 40), (40, 230, 120))
    for i in range(3):
      colour = np.asarray(lit[i], np.float32) * look['glow'] if i == state else housing * 0.5 + 20
      parts.append(('e', (x, y + 0.4 - 0.4 * i, 0.15, 0.15), LIGHT, colour))
  return parts


def signal_parts(rng, sty, look, toward, mast, facing=True):
  """A traffic-light pole: a light on top (or its back), and a mast arm with more lights."""
  grey = tone(rng, pick(rng, sty['poles']), 0.08)
  h = rng.uniform(3.0, 3.8)
  parts = [('r', (-0.13, 0.0, 0.13, h), POLE, grey)]
  parts += light_parts(rng, sty, look, 0.0, h + 0.6, facing)
  if mast:
    top, reach = rng.uniform(5.6, 6.5), rng.uniform(4.0, 7.0)
    parts[0] = ('r', (-0.15, 0.0, 0.15, top), POLE, grey)
    parts.append(('p', seg((0, top - 0.1), (toward * reach, top - 0.1), 0.16), POLE, grey))
    for k in range(1 + int(rng.random() < 0.6)):
      parts += light_parts(rng, sty, look, toward * (reach - 0.5 - k * 2.5), top - 0.8)
  return parts


def tree_parts(rng, sty):
  """A street tree: trunk and a crown of overlapping blobs, or a conifer; all vegetation."""
  bark = tone(rng, (78, 64, 50), 0.2)
  leaf = tone(rng, pick(rng, sty['vegetation']), 0.1)
  trunk_h, radius = rng.uniform(2.0, 4.0), rng.uniform(1.6, 3.4)
  tw = rng.uniform(0.28, 0.45)
  top = trunk_h + radius * 0.5
  parts = [('p', ((-tw / 2, 0), (tw / 2, 0), (tw * 0.3, top), (-tw * 0.3, top)), VEGETATION, bark)]
  if rng.random() < 0.15:
    for k in range(4):
      q = radius * (1.0 - 0.2 * k)
      y = trunk_h * 0.6 + k * radius * 0.55
      parts.append(('p', ((-q, y), (q, y), (0, y + radius * 1.1)), VEGETATION,
                    leaf * (0.85 + 0.06 * k)))
    return parts
  for _ in range(int(rng.integers(3, 6))):
    cx, cy = rng.uniform(-0.6, 0.6) * radius, trunk_h + radius * rng.uniform(0.6, 1.3)
    rx, ry = radius * rng.uniform(0.55, 0.85), radius * rng.uniform(0.5, 0.8)
    parts.append(('e', (cx, cy, rx, ry), VEGETATION, leaf * rng.uniform(0.85, 1.15)))
  return parts
