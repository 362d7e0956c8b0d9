"""One synthetic scene: the street, the things in it, the camera's view (`render_scene`).

A scene is laid out in a street frame (metres; X right, Y up, Z forward from the camera) and
rasterised with a z-buffer (canvas.py), so pixels and labels always agree and one seed gives
the same scene at any resolution, only sharper.
"""
import numpy as np

from stseg_jax.data.labels import IGNORE_LABEL
from stseg_jax.data.synthetic import furniture
from stseg_jax.data.synthetic import layout
from stseg_jax.data.synthetic import people
from stseg_jax.data.synthetic import shapes
from stseg_jax.data.synthetic import street
from stseg_jax.data.synthetic import vehicles
from stseg_jax.data.synthetic.canvas import Canvas, box_blur, upsample
from stseg_jax.data.synthetic.classes import (BUILDING, ROAD, SIDEWALK, SKY, TERRAIN, VEGETATION,
                                              WALL)
from stseg_jax.data.synthetic.shapes import pick
from stseg_jax.data.synthetic.styles import STYLES, WEATHER, check_domain


# Texture per label (column = label): low- and mid-frequency shading, per-pixel grain.
_TEXTURE = np.full((3, 256), 0.03, np.float32)
for _cls, _amp in ((ROAD, (0.12, 0.05, 0.06)), (SIDEWALK, (0.08, 0.04, 0.04)),
                   (BUILDING, (0.06, 0.03, 0.03)), (WALL, (0.08, 0.05, 0.04)),
                   (VEGETATION, (0.15, 0.3, 0.12)), (TERRAIN, (0.2, 0.2, 0.1)),
                   (SKY, (0.1, 0.0, 0.01))):
  _TEXTURE[:, _cls] = _amp


def _populate(cv, cam, rng, sty, look, st):
  """Traffic, parked vehicles, people, riders, poles, signs, lights and trees."""
  _traffic(cv, cam, rng, sty, look, st)
  _people(cv, cam, rng, sty, st)
  _furniture(cv, cam, rng, sty, look, st)


def _traffic(cv, cam, rng, sty, look, st):
  """Vehicles in the lanes (ours drive away, the others come towards us) and parked ones."""
  lw, (n_left, n_right), m, xc = st['lw'], st['n'], st['median'] / 2, st['xc']
  lanes = [(xc + m + (i + 0.5) * lw, 1) for i in range(n_right)]
  lanes += [(xc - m - (i + 0.5) * lw, -1) for i in range(n_left)]
  busy = {}
  if st['tracks'] and rng.random() < 0.75:
    t = int(rng.integers(2))
    z0 = rng.uniform(8.0, 45.0)
    vehicles.tram(cv, cam, rng, sty, look, xc + st['tracks'][t], z0, 1 if t else -1)
    busy[0 if t else n_right] = (z0 - 3.0, z0 + 35.0)  # no car inside the tram
  kinds = (('car', 0.79), ('truck', 0.07), ('bus', 0.07), ('moto', 0.07))
  z_max = min(st['z_end'], 90.0)
  for i, (x, facing) in enumerate(lanes):
    z = rng.uniform(6.0, 14.0) if abs(x) < lw / 2 else rng.uniform(4.0, 14.0)
    while z < z_max:
      kind = layout.choose(rng, kinds)
      length = {'car': 4.8, 'truck': 9.5, 'bus': 12.5, 'moto': 2.2}[kind]
      blocked = i in busy and busy[i][0] < z + length and z < busy[i][1]
      if rng.random() < 0.6 and not blocked:
        _vehicle(cv, cam, rng, sty, look, kind, x + rng.uniform(-0.3, 0.3), z, facing)
      z += length + rng.uniform(3.0, 22.0)
  for side, half, park in zip((-1, 1), st['half'], st['park']):
    if park:
      for z in np.arange(rng.uniform(3.0, 9.0), min(z_max, 70.0), rng.uniform(5.2, 7.5)).tolist():
        kind = layout.choose(rng, (('car', 0.88), ('truck', 0.07), ('moto', 0.05)))
        if rng.random() < 0.7 and not layout.in_cross(st, z, 2.0):
          _vehicle(cv, cam, rng, sty, look, kind, xc + side * (half - 1.15), z,
                   pick(rng, (-1, 1)), parked=True)
  if st['cross'] and rng.random() < 0.4:
    z = st['cross'][0] + rng.uniform(2.0, 8.0)
    vehicles.car(cv, cam, rng, sty, look, rng.uniform(-15, 15), z, pick(rng, (-1, 1)), crossing=True)


def _vehicle(cv, cam, rng, sty, look, kind, x, z, facing, parked=False):
  """One vehicle of a kind; a motorcycle carries a rider unless parked."""
  if kind in ('car', 'truck', 'bus'):
    draw = {'car': vehicles.car, 'truck': vehicles.truck, 'bus': vehicles.bus}[kind]
    draw(cv, cam, rng, sty, look, x, z, facing)
  elif parked:
    _sprite_either_way(cv, cam, rng, x, z, people.motorcycle_side(rng, sty, False))
  else:
    shapes.sprite(cv, cam, x, z, people.rider_rear(rng, sty, motor=True))


def _sprite_either_way(cv, cam, rng, x, z, parts):
  """A side-on sprite facing left or right at random."""
  shapes.sprite(cv, cam, x, z, parts if rng.random() < 0.5 else shapes.mirror(parts))


def _people(cv, cam, rng, sty, st):
  """Pedestrians on the sidewalks and crossings, cyclists, parked bikes."""
  xc = st['xc']
  for side, half in zip(st['sides'], st['half']):
    inner = half + layout.KERB + side['lawn']
    for _ in range(rng.poisson(sty['persons'])):
      z = 3.0 + 40.0 * rng.random() ** 1.8  # more of them near: they are small
      x = xc + side['sign'] * (inner + rng.uniform(0.4, max(side['walk'] - 0.3, 0.5)))
      view = 'side' if rng.random() < 0.3 else 'front'
      for k in range(1 if rng.random() < 0.7 else int(rng.integers(2, 4))):  # alone or a group
        parts = people.person_parts(rng, sty, view, detail=vehicles.detailed(cam, z, 0.8))
        _sprite_either_way(cv, cam, rng, x + rng.uniform(-0.7, 0.7) * k,
                           z + rng.uniform(-0.5, 0.5) * k, parts)
    if rng.random() < 0.4:  # parked bicycles by the kerb
      z = rng.uniform(3.0, 20.0)
      for k in range(int(rng.integers(1, 5))):
        shapes.sprite(cv, cam, xc + side['sign'] * (inner + 0.5), z + 0.5 * k,
                   people.bicycle_side(rng, sty, False))
  crossing = st['zebra'] or st['cross']
  if crossing and rng.random() < 0.6:
    for _ in range(1 + rng.poisson(1.5)):
      z = rng.uniform(crossing[0], crossing[0] + 3.0)
      parts = people.person_parts(rng, sty, 'side', detail=vehicles.detailed(cam, z, 0.8))
      _sprite_either_way(cv, cam, rng, xc + rng.uniform(-st['half'][0], st['half'][1]), z, parts)
  if rng.random() < sty['cyclists']:
    edge = xc + st['median'] / 2 + st['n'][1] * st['lw'] - 0.8
    for _ in range(int(rng.integers(1, 4))):
      shapes.sprite(cv, cam, edge + rng.uniform(-0.3, 0.3), 4.0 + 30.0 * rng.random() ** 1.5,
                 people.rider_rear(rng, sty, motor=False))
  if st['cross'] and rng.random() < 0.5:  # a rider crossing at the intersection
    z = st['cross'][0] + rng.uniform(1.0, 6.0)
    make = people.motorcycle_side if rng.random() < 0.3 else people.bicycle_side
    _sprite_either_way(cv, cam, rng, rng.uniform(-10, 10), z, make(rng, sty, True))
  if rng.random() < 0.3:  # parked motorcycles at the kerb
    i = int(rng.integers(2))
    x = xc + (-1, 1)[i] * (st['half'][i] - 0.8)
    for k in range(int(rng.integers(1, 3))):
      shapes.sprite(cv, cam, x, rng.uniform(4.0, 30.0) + 1.2 * k, people.motorcycle_side(rng, sty, False))


def _furniture(cv, cam, rng, sty, look, st):
  """Street lamps, trees, sign posts and traffic lights along the kerbs."""
  xc = st['xc']
  for i, side in enumerate(st['sides']):
    s, kerb = side['sign'], xc + side['sign'] * (st['half'][i] + layout.KERB)
    if rng.random() < 0.7:
      zs = np.arange(rng.uniform(3.0, 15.0), min(st['z_end'], 120.0), rng.uniform(18.0, 32.0))
      for z in zs.tolist():
        if not layout.in_cross(st, z, 1.0):
          shapes.sprite(cv, cam, kerb + s * 0.45, z, furniture.lamp_parts(rng, sty, -s))
    if rng.random() < sty['trees']:
      x = kerb + s * (side['lawn'] / 2 if side['lawn'] else 1.1)
      zs = np.arange(rng.uniform(2.0, 10.0), min(st['z_end'], 100.0), rng.uniform(7.0, 13.0))
      for z in zs.tolist():
        if rng.random() < 0.85 and not layout.in_cross(st, z, 2.0):
          shapes.sprite(cv, cam, x, z, furniture.tree_parts(rng, sty))
    for seg in side['segments']:
      if seg['kind'] == 'gap' and seg['yard'] == layout.MAT_GRASS:  # trees in the yard
        for _ in range(int(rng.integers(0, 3))):
          x = xc + s * (side['front'] + rng.uniform(2.0, seg['setback'] - 1.0))
          shapes.sprite(cv, cam, x, rng.uniform(seg['z0'], seg['z1']), furniture.tree_parts(rng, sty))
  for _ in range(rng.poisson(sty['sign_posts'])):
    i = int(rng.integers(2))
    z = rng.uniform(4.0, 45.0)
    if not layout.in_cross(st, z, 1.0):
      shapes.sprite(cv, cam, xc + (-1, 1)[i] * (st['half'][i] + 0.6), z, furniture.sign_parts(rng, sty))
  crossing = st['cross'] or st['zebra']
  if not crossing and rng.random() < 0.35:  # a signal for a crossing further on
    z = rng.uniform(15.0, 60.0)
    crossing = (z, z)
  if crossing:
    for i, s in enumerate((-1, 1)):
      x = xc + s * (st['half'][i] + 0.6)
      mast = s > 0 and rng.random() < 0.6
      shapes.sprite(cv, cam, x, crossing[0] - 0.5, furniture.signal_parts(rng, sty, look, -s, mast))
      if st['cross'] and rng.random() < 0.7:  # the far corner's, for us or for the cross street
        far = furniture.signal_parts(rng, sty, look, -s, False, facing=rng.random() < 0.6)
        shapes.sprite(cv, cam, x, st['cross'][1] + 0.5, far)


def _draw_hood(cv, look):
  """The ego vehicle's bonnet at the bottom edge: unlabelled, like Cityscapes' ego vehicle."""
  if not look['hood']:
    return
  top = 1.0 - look['hood_height'] + 0.08 * np.square(cv.u * (cv.height / cv.width))
  r0 = int(np.searchsorted(cv.v, top.min()))
  below = cv.v[r0:, None] - top[None, :]
  mask = below > 0
  shade = np.clip(1.3 - below * 8.0, 0.5, 1.3)  # a highlight along its edge
  np.copyto(cv.image[:, r0:], look['hood_colour'][:, None, None] * shade, where=mask)
  cv.label[r0:][mask] = IGNORE_LABEL
  cv.depth[r0:][mask] = 0.0


def _finish(cv, look, noise_rng):
  """Texture, light, sensor noise, fog and blur over the flat-shaded scene; uint8 HxWx3."""
  h, w, label = cv.height, cv.width, cv.label
  # One uniform noise field (unit variance, cheaper than Gaussian) serves as texture grain and,
  # multiplied in rather than added, as sensor noise.
  grain = noise_rng.random((h, w), np.float32)
  grain -= 0.5
  grain *= 3.46
  gain = _TEXTURE[0][label] * upsample(look['texture'][0], h, w)
  gain += _TEXTURE[1][label] * upsample(look['texture'][1], h, w)
  gain += (_TEXTURE[2][label] + look['noise'] / 128.0) * grain
  gain += 1.0
  image = cv.image
  image *= gain
  image *= look['tint'][:, None, None]
  if look['fog'] is not None:
    colour, visibility = look['fog']
    t = np.exp(-cv.depth / visibility)
    image *= t
    image += colour[:, None, None] * (1.0 - t)
  if look['blur']:
    image = box_blur(image, int(round(look['blur'] * h)), axes=(1, 2))
  np.clip(image, 0, 255, out=image)
  return np.stack(list(image.astype(np.uint8)), axis=-1)


def render_scene(seed, height=256, width=512, domain='A', extra_classes=False):
  """One scene: image uint8 (H, W, 3) and label uint8 (H, W) in train ids, 255 = unlabelled.

  Deterministic in `seed` (a non-negative int); the layout does not depend on the resolution.
  """
  check_domain(domain)
  sty = STYLES[domain]
  rng = np.random.default_rng(seed)
  look = layout.sample_look(rng, sty, WEATHER)
  cam = layout.sample_camera(rng, sty)
  st = layout.sample_street(rng, sty, look)
  cv = Canvas(height, width)
  street.draw_sky(cv, cam, look)
  street.draw_ground(cv, cam, st, look, extra_classes)
  for side in st['sides']:
    street.draw_side(cv, cam, st, side, look)
  street.draw_end(cv, cam, st)
  street.draw_median(cv, cam, st)
  _populate(cv, cam, rng, sty, look, st)
  _draw_hood(cv, look)
  # Pixel noise has its own stream: how much of it there is depends on the resolution.
  image = _finish(cv, look, np.random.default_rng([seed, height, width]))
  return image, cv.label
