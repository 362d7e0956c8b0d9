"""The layout of a synthetic street: look, camera, lanes, sidewalks, buildings, gaps.

Sampling (`sample_*`) draws every random number of the layout; drawing (street.py) uses
none, so a seed fixes the scene whatever the resolution. Street frame: metres, X right,
Y up, Z forward, camera at the origin.
"""
import numpy as np

from stseg_jax.data.synthetic import shapes
from stseg_jax.data.synthetic.canvas import upsample
from stseg_jax.data.synthetic.shapes import pick, tone


# Ground materials; a material's label depends on extra_classes (markings are road or their own).
(MAT_ROAD, MAT_KERB, MAT_WALK, MAT_GRASS, MAT_MARK, MAT_CENTRE, MAT_CROSS, MAT_RAIL, MAT_PLAZA,
 MAT_LOT) = range(10)


KERB = 0.25  # kerb width, metres


def choose(rng, weighted):
  """A value from ((value, weight), ...)."""
  r = rng.random() * sum(w for _, w in weighted)
  for value, w in weighted:
    r -= w
    if r < 0:
      return value
  return weighted[-1][0]


def in_cross(st, z, margin):
  """Whether depth z is within `margin` of the intersection."""
  return st['cross'] is not None and st['cross'][0] - margin < z < st['cross'][1] + margin


def sample_look(rng, sty, weathers):
  """Weather, light, fog, blur, sensor noise and texture fields of one scene."""
  name = choose(rng, sty['weather'])
  w = weathers[name]
  light = w['light'] * rng.uniform(0.85, 1.15)
  tint = light * np.asarray(w['cast']) * rng.uniform(0.96, 1.04, 3)
  look = dict(weather=name, sky=[tone(rng, c, 0.06) for c in w['sky']], lit=w['lit'],
              tint=tint.astype(np.float32), glow=1.0 / light, fog=None,
              shadow=w['shadow'] * rng.uniform(0.9, 1.1), sun=pick(rng, (-1, 1)),
              shadow_edge=rng.uniform(-4.0, 6.0), shadow_slope=rng.uniform(-0.08, 0.08),
              blur=rng.uniform(0.002, 0.006) if rng.random() < 0.35 else 0.0,
              noise=rng.uniform(1.0, 6.0) if rng.random() < 0.7 else 0.0,
              hood=rng.random() < sty['hood'], hood_height=rng.uniform(0.025, 0.05),
              hood_colour=tone(rng, pick(rng, sty['cars']), 0.1))
  if w['fog'] is not None:
    look['fog'] = (tone(rng, w['fog'][0], 0.03), rng.uniform(*w['fog'][1]))
  # Texture fields on fixed grids, so they too are the same at every resolution.
  look['texture'] = (upsample(rng.standard_normal((6, 12)).astype(np.float32), 48, 96),
                     rng.standard_normal((48, 96)).astype(np.float32))
  return look


def sample_camera(rng, sty):
  """Focal length, height, heading (vanishing point) and pitch (horizon) of the camera."""
  return shapes.Camera(focal=rng.uniform(*sty['focal']), height=rng.uniform(*sty['camera_height']),
                    u0=rng.uniform(-0.12, 0.12), v0=rng.uniform(*sty['horizon']))


def sample_street(rng, sty, look):
  """Road cross-section, the rows of buildings on both sides, intersection and street end."""
  lw = rng.uniform(*sty['lane_width'])
  n_left, n_right = choose(rng, sty['lanes']), choose(rng, sty['lanes'])
  median = rng.uniform(1.0, 3.0) if rng.random() < sty['median'] else 0.0
  ego = int(rng.integers(n_right))
  park = [2.3 if rng.random() < sty['parking'] else 0.0 for _ in range(2)]
  st = dict(lw=lw, n=(n_left, n_right), median=median, park=park,
            barrier=median > 0 and rng.random() < sty['barrier'],
            xc=-(median / 2 + (ego + 0.5) * lw) + rng.uniform(-0.4, 0.4),
            half=[median / 2 + n * lw + p for n, p in zip((n_left, n_right), park)],
            dashed_centre=sty['dashed_centre'], edge_lines=sty['edge_lines'],
            z_end=rng.uniform(60.0, 220.0), end_block=rng.random() < sty['end_block'],
            cross=None, zebra=None, tracks=())
  if rng.random() < sty['intersection']:
    z0 = rng.uniform(10.0, 45.0)
    st['cross'] = (z0, z0 + rng.uniform(10.0, 18.0))
  if st['cross'] and rng.random() < sty['crosswalk']:
    st['zebra'] = (st['cross'][0] - 4.0, st['cross'][0] - 0.8)
  elif not st['cross'] and rng.random() < sty['crosswalk'] / 2:
    z0 = rng.uniform(12.0, 35.0)
    st['zebra'] = (z0, z0 + 3.2)
  if rng.random() < sty['tram']:  # tracks in the innermost lane each way
    st['tracks'] = (-(median / 2 + lw / 2), median / 2 + lw / 2)
  st['dash'] = (rng.uniform(3.0, 9.0), rng.uniform(0.3, 0.6), rng.uniform(0.0, 10.0))
  st['colours'] = _sample_ground_colours(rng, sty)
  blocks = [(0.5, st['z_end'])]
  if st['cross']:
    blocks = [(0.5, st['cross'][0]), (st['cross'][1], st['z_end'])]
  st['sides'] = [_sample_side(rng, sty, look, s, st['half'][i], blocks)
                 for i, s in enumerate((-1, 1))]
  st['end'] = _sample_end(rng, sty, look, st)
  st['median_colours'] = (tone(rng, pick(rng, sty['walls']), 0.08),
                          tone(rng, pick(rng, sty['vegetation']), 0.1))
  st['bushes'] = [(rng.uniform(-0.25, 0.25), z) for z in
                  np.arange(rng.uniform(2, 10), st['z_end'], rng.uniform(6, 15)).tolist()]
  return st


def _sample_ground_colours(rng, sty):
  """Colour per ground material."""
  road, walk = tone(rng, pick(rng, sty['road']), 0.06), tone(rng, pick(rng, sty['walk']), 0.06)
  return np.stack([road, walk * 1.08, walk, tone(rng, pick(rng, sty['terrain']), 0.08),
                   tone(rng, sty['marking'], 0.04), tone(rng, sty['centre'], 0.04),
                   tone(rng, sty['marking'], 0.04), tone(rng, (150, 148, 145), 0.05),
                   tone(rng, pick(rng, sty['walk']), 0.06), road * rng.uniform(0.85, 1.1)])


def _sample_side(rng, sty, look, sign, half, blocks):
  """One side: kerb, lawn and sidewalk widths, then a row of buildings and gaps."""
  lawn = rng.uniform(1.0, 2.5) if rng.random() < sty['lawn'] else 0.0
  walk = rng.uniform(*sty['sidewalk'])
  side = dict(sign=sign, lawn=lawn, walk=walk, front=half + KERB + lawn + walk,
              lit=sign != look['sun'], segments=[], railing=None)
  if rng.random() < 0.2:  # a pedestrian railing along the kerb
    z0 = rng.uniform(3.0, 25.0)
    side['railing'] = (z0, z0 + rng.uniform(8.0, 40.0), tone(rng, pick(rng, sty['poles']), 0.1))
  for b0, b1 in blocks:
    z = b0
    while z < b1 - 1.0:
      z1 = z + rng.uniform(8.0, 30.0)
      z1 = b1 if z1 > b1 - 5.0 else z1
      if z > b0 and rng.random() < sty['gap']:
        side['segments'].append(_sample_gap(rng, sty, z, z1))
      else:
        side['segments'].append(_sample_building(rng, sty, look, z, z1))
      z = z1
  return side


def _sample_building(rng, sty, look, z0, z1, setback=None):
  """Facade parameters: size, colours and window grid."""
  if setback is None:
    setback = 0.0 if rng.random() < 0.65 else rng.uniform(0.5, 4.0)
  return dict(kind='building', z0=z0, z1=z1, height=rng.uniform(*sty['building_height']),
              setback=setback,
              # A front yard is usually closed off, like a gap.
              boundary=_sample_boundary(rng, sty, 0.7 if setback > 1.5 else 0.0),
              wall=tone(rng, pick(rng, sty['building']), 0.1),
              glass=tone(rng, pick(rng, sty['glass']), 0.15),
              spacing=rng.uniform(1.8, 3.4), floor=rng.uniform(2.9, 3.6),
              ground=rng.uniform(3.5, 5.0), win_w=rng.uniform(0.35, 0.7),
              win_h=rng.uniform(0.4, 0.7), shop=rng.uniform(3.0, 6.0),
              salt=int(rng.integers(1 << 16)), lit=look['lit'] * rng.uniform(0.5, 1.5),
              glow=np.asarray((255, 205, 140), np.float32) * look['glow'])


def _sample_gap(rng, sty, z0, z1):
  """A gap between buildings: a yard, trees or a building behind it, a boundary in front."""
  gap = dict(kind='gap', z0=z0, z1=z1, setback=rng.uniform(8.0, 35.0),
             yard=choose(rng, ((MAT_GRASS, 0.5), (MAT_PLAZA, 0.3), (MAT_LOT, 0.2))),
             boundary=_sample_boundary(rng, sty, 0.9),
             leaf=tone(rng, pick(rng, sty['vegetation']), 0.1), trees=rng.random() < 0.55,
             wave=rng.uniform(0, 6.3, 2), tree_height=rng.uniform(6.0, 14.0))
  gap['back'] = _sample_building(rng, sty, {'lit': 0.0, 'glow': 1.0}, z0 - 3.0, z1 + 3.0, 0.0)
  return gap


def _sample_boundary(rng, sty, p):
  """With probability p a wall, fence or hedge along the back of the sidewalk."""
  kind = choose(rng, (('wall', 0.45), ('fence', 0.4), ('hedge', 0.15)))
  return dict(kind=kind if rng.random() < p else None, height=rng.uniform(1.0, 3.0),
              fence=pick(rng, ('bars', 'mesh', 'solid', 'solid')),
              colour=tone(rng, pick(rng, sty['walls']), 0.1),
              leaf=tone(rng, pick(rng, sty['vegetation']), 0.1))


def _sample_end(rng, sty, look, st):
  """What closes the street: a block of frontal facades, or far buildings and hills."""
  x, items = -150.0, []
  far = st['z_end'] if st['end_block'] else st['z_end'] + rng.uniform(100.0, 300.0)
  while x < 150.0:
    width = rng.uniform(10.0, 30.0)
    b = _sample_building(rng, sty, look, 0.0, 0.0, 0.0)
    if not st['end_block']:
      b['height'] = rng.uniform(5.0, 40.0) if rng.random() < 0.6 else 0.0
    items.append((x, x + width, b))
    x += width
  hills = [(rng.uniform(-400, 400), rng.uniform(30, 120), rng.uniform(200, 600)) for _ in range(4)]
  return dict(far=far, items=items, hills=hills, leaf=tone(rng, pick(rng, sty['vegetation']), 0.1))
