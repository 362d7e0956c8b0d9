"""Vehicles of the synthetic street: cars, trucks, buses and trams (shapes.py draws them)."""
import numpy as np

from stseg_jax.data.synthetic.classes import BUS, CAR, TRAIN, TRUCK
from stseg_jax.data.synthetic.shapes import (box, DARK, glass_panel, mix, pick, seg, sprite, tone,
                                             wheel_side, wrap)


_GLASS = (44, 52, 62)


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
