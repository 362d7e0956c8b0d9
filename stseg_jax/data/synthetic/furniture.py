"""Street furniture and trees: lamps, signs, traffic lights and signals, trees."""
import math

import numpy as np

from stseg_jax.data.synthetic.classes import LIGHT, POLE, SIGN, VEGETATION
from stseg_jax.data.synthetic.shapes import pick, seg, tone


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
