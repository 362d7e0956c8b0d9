"""Procedural driving scenes labelled with Cityscapes train ids: the default, download-free data.

A scene is laid out in a street frame (metres; X right, Y up, Z forward from the camera) and
rasterised with a z-buffer (canvas.py), so pixels and labels always agree and one seed gives the
same scene at any resolution, only sharper. Colours overlap between classes on purpose (grey
road, walls, buildings and cars; green trees, grass and signs), so shape and context decide.
Domain 'B' is another city: its own palette, fog or dusk, a higher camera and wider roads. With
extra_classes=True road markings get ids of their own (19 lane marking, 20 crosswalk), the way
Mapillary splits what Cityscapes calls road.

  python -m stseg_jax.data.synthetic --out=/tmp/synth --n=4 --domain=B

Files: synthetic_street.py (layout, sky, ground, facades), synthetic_objects.py (vehicles,
people, street furniture), canvas.py (the rasteriser), palette.py (label colours).
"""
import argparse
import functools
import hashlib
import os
import threading
import time

import numpy as np
from PIL import Image

from stseg_jax.data import synthetic_objects as obj
from stseg_jax.data import synthetic_street as street
from stseg_jax.data.canvas import Canvas, box_blur, upsample
from stseg_jax.data.labels import IGNORE_LABEL
# PALETTE and colorize are re-exported for users of this module.
from stseg_jax.data.palette import PALETTE, colorize  # pylint: disable=unused-import
from stseg_jax.data.synthetic_objects import (BUILDING, ROAD, SIDEWALK, SKY, TERRAIN, VEGETATION,
                                              WALL, pick)

CITYSCAPES_CLASSES = ('road', 'sidewalk', 'building', 'wall', 'fence', 'pole', 'traffic light',
                      'traffic sign', 'vegetation', 'terrain', 'sky', 'person', 'rider', 'car',
                      'truck', 'bus', 'train', 'motorcycle', 'bicycle')
EXTRA_CLASSES = ('lane marking', 'crosswalk')  # ids 19, 20 with extra_classes=True

_CLOTHES = ((30, 30, 35), (62, 62, 70), (40, 52, 92), (122, 122, 126), (205, 205, 200),
            (155, 42, 42), (70, 92, 60), (162, 142, 112), (92, 62, 42), (185, 172, 82))
STYLES = {
    'A': dict(  # a temperate European city by day
        camera_height=(1.3, 1.7), horizon=(0.40, 0.48), focal=(0.95, 1.1),
        weather=(('clear', 0.45), ('overcast', 0.45), ('haze', 0.1)),
        lane_width=(3.0, 3.5), lanes=((1, 0.6), (2, 0.4)), parking=0.45, median=0.12,
        barrier=0.0, sidewalk=(2.5, 5.0), lawn=0.35, building_height=(9.0, 26.0), gap=0.28,
        end_block=0.7, intersection=0.6, crosswalk=0.5, tram=0.35, edge_lines=False,
        dashed_centre=True, persons=3.0, cyclists=0.6, trees=0.55, hood=0.5, sign_posts=2.5,
        building=((178, 165, 148), (140, 138, 135), (158, 96, 74), (206, 200, 188),
                  (122, 104, 90), (196, 180, 136), (105, 106, 112), (170, 155, 160),
                  (150, 160, 165)),
        glass=((50, 60, 75), (70, 80, 95), (35, 40, 48), (90, 100, 110)),
        walls=((150, 148, 142), (175, 165, 145), (130, 120, 110), (160, 100, 80)),
        road=((92, 92, 96), (100, 98, 96), (84, 86, 90), (110, 108, 104)),
        walk=((160, 156, 150), (150, 140, 134), (172, 150, 138), (140, 140, 140)),
        vegetation=((62, 98, 42), (78, 112, 50), (54, 86, 44), (92, 118, 60)),
        terrain=((108, 122, 66), (126, 120, 80), (96, 112, 60), (140, 130, 92)),
        marking=(222, 222, 216), centre=(222, 222, 216),
        cars=((190, 190, 192), (30, 30, 34), (235, 235, 232), (120, 122, 126), (150, 30, 30),
              (35, 60, 120), (40, 70, 50), (160, 150, 120), (90, 30, 40)),
        trucks=((230, 230, 228), (200, 200, 200), (60, 90, 150), (200, 60, 40), (240, 200, 60)),
        buses=((235, 200, 50), (220, 220, 215), (190, 40, 40), (40, 90, 160)),
        trams=((200, 30, 40), (235, 235, 230), (240, 200, 40), (40, 90, 160)),
        poles=((95, 98, 100), (60, 62, 64), (130, 130, 128)), light_housing=(35, 35, 35),
        signs=('round', 'blue', 'triangle', 'yield', 'square', 'white', 'back', 'back'),
        clothes=_CLOTHES),
    'B': dict(  # a warmer, wider, greener city seen from a higher camera, in fog or at dusk
        camera_height=(2.1, 2.7), horizon=(0.33, 0.41), focal=(0.8, 0.95),
        weather=(('fog', 0.4), ('dusk', 0.35), ('sunny', 0.25)),
        lane_width=(3.4, 3.9), lanes=((1, 0.3), (2, 0.5), (3, 0.2)), parking=0.3, median=0.45,
        barrier=0.5, sidewalk=(2.0, 4.0), lawn=0.5, building_height=(8.0, 42.0), gap=0.3,
        end_block=0.45, intersection=0.6, crosswalk=0.85, tram=0.06, edge_lines=True,
        dashed_centre=False, persons=2.2, cyclists=0.45, trees=0.65, hood=0.0, sign_posts=2.5,
        building=((226, 188, 170), (168, 206, 196), (230, 202, 128), (198, 122, 92),
                  (118, 138, 160), (236, 230, 214), (94, 100, 120), (92, 122, 142),
                  (210, 160, 170)),
        glass=((60, 90, 110), (90, 120, 140), (40, 45, 55)),
        walls=((200, 190, 170), (170, 175, 180), (190, 150, 120)),
        road=((122, 114, 106), (112, 108, 104), (70, 70, 76)),
        walk=((165, 96, 84), (190, 172, 124), (180, 176, 170)),
        vegetation=((44, 84, 62), (60, 96, 54), (120, 112, 48), (140, 100, 40)),
        terrain=((150, 132, 92), (130, 120, 80), (160, 146, 100)),
        marking=(232, 232, 232), centre=(222, 180, 40),
        cars=((240, 240, 238), (200, 200, 205), (25, 25, 28), (200, 170, 40), (60, 120, 170),
              (170, 60, 30), (100, 100, 104), (60, 110, 80)),
        trucks=((240, 240, 240), (70, 130, 80), (200, 120, 40), (80, 80, 90)),
        buses=((60, 140, 90), (240, 240, 235), (230, 130, 40), (70, 80, 160)),
        trams=((60, 140, 200), (240, 240, 235)),
        poles=((70, 80, 70), (150, 150, 150)), light_housing=(205, 170, 40),
        signs=('diamond', 'green', 'octagon', 'white', 'round', 'back'),
        clothes=_CLOTHES[::2] + ((200, 90, 40), (40, 130, 140), (230, 220, 90))),
}
WEATHER = {  # sky top and horizon colours, light level and tint, shadow strength, fog, lit windows
    'clear': dict(sky=((78, 130, 205), (188, 208, 234)), light=1.05, cast=(1.03, 1.0, 0.95),
                  shadow=0.55, fog=None, lit=0.0),
    'overcast': dict(sky=((150, 156, 168), (205, 207, 212)), light=0.9, cast=(0.97, 0.99, 1.03),
                     shadow=1.0, fog=None, lit=0.0),
    'haze': dict(sky=((120, 150, 190), (214, 216, 220)), light=1.0, cast=(1.0, 1.0, 1.0),
                 shadow=0.75, fog=((212, 214, 218), (250.0, 500.0)), lit=0.0),
    'fog': dict(sky=((186, 188, 192), (196, 198, 200)), light=0.85, cast=(0.98, 1.0, 1.02),
                shadow=1.0, fog=((190, 192, 196), (25.0, 70.0)), lit=0.05),
    'dusk': dict(sky=((38, 40, 92), (240, 145, 80)), light=0.5, cast=(1.12, 0.92, 0.8),
                 shadow=1.0, fog=None, lit=0.45),
    'sunny': dict(sky=((55, 115, 222), (168, 200, 242)), light=1.12, cast=(1.07, 1.0, 0.9),
                  shadow=0.5, fog=None, lit=0.0),
}

# Texture per label (column = label): low- and mid-frequency shading, per-pixel grain.
_TEXTURE = np.full((3, 256), 0.03, np.float32)
for _cls, _amp in ((ROAD, (0.12, 0.05, 0.06)), (SIDEWALK, (0.08, 0.04, 0.04)),
                   (BUILDING, (0.06, 0.03, 0.03)), (WALL, (0.08, 0.05, 0.04)),
                   (VEGETATION, (0.15, 0.3, 0.12)), (TERRAIN, (0.2, 0.2, 0.1)),
                   (SKY, (0.1, 0.0, 0.01))):
  _TEXTURE[:, _cls] = _amp

_SPLITS = ('train', 'val', 'unlabeled', 'test')
_DEFAULT_SIZES = {'train': 500, 'val': 100, 'unlabeled': 2000, 'test': 100}


def _check_domain(domain):
  if domain not in STYLES:
    raise ValueError(f'unknown synthetic domain {domain!r}; expected one of {tuple(STYLES)}')


def class_names(domain='A', extra_classes=False):
  """Names of the label ids of a domain's scenes, in id order."""
  _check_domain(domain)
  return CITYSCAPES_CLASSES + (EXTRA_CLASSES if extra_classes else ())


# ---------------------------------------------------------------- things in the street


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
    obj.tram(cv, cam, rng, sty, look, xc + st['tracks'][t], z0, 1 if t else -1)
    busy[0 if t else n_right] = (z0 - 3.0, z0 + 35.0)  # no car inside the tram
  kinds = (('car', 0.79), ('truck', 0.07), ('bus', 0.07), ('moto', 0.07))
  z_max = min(st['z_end'], 90.0)
  for i, (x, facing) in enumerate(lanes):
    z = rng.uniform(6.0, 14.0) if abs(x) < lw / 2 else rng.uniform(4.0, 14.0)
    while z < z_max:
      kind = street.choose(rng, kinds)
      length = {'car': 4.8, 'truck': 9.5, 'bus': 12.5, 'moto': 2.2}[kind]
      blocked = i in busy and busy[i][0] < z + length and z < busy[i][1]
      if rng.random() < 0.6 and not blocked:
        _vehicle(cv, cam, rng, sty, look, kind, x + rng.uniform(-0.3, 0.3), z, facing)
      z += length + rng.uniform(3.0, 22.0)
  for side, half, park in zip((-1, 1), st['half'], st['park']):
    if park:
      for z in np.arange(rng.uniform(3.0, 9.0), min(z_max, 70.0), rng.uniform(5.2, 7.5)).tolist():
        kind = street.choose(rng, (('car', 0.88), ('truck', 0.07), ('moto', 0.05)))
        if rng.random() < 0.7 and not street.in_cross(st, z, 2.0):
          _vehicle(cv, cam, rng, sty, look, kind, xc + side * (half - 1.15), z,
                   pick(rng, (-1, 1)), parked=True)
  if st['cross'] and rng.random() < 0.4:
    z = st['cross'][0] + rng.uniform(2.0, 8.0)
    obj.car(cv, cam, rng, sty, look, rng.uniform(-15, 15), z, pick(rng, (-1, 1)), crossing=True)


def _vehicle(cv, cam, rng, sty, look, kind, x, z, facing, parked=False):
  """One vehicle of a kind; a motorcycle carries a rider unless parked."""
  if kind in ('car', 'truck', 'bus'):
    draw = {'car': obj.car, 'truck': obj.truck, 'bus': obj.bus}[kind]
    draw(cv, cam, rng, sty, look, x, z, facing)
  elif parked:
    _sprite_either_way(cv, cam, rng, x, z, obj.motorcycle_side(rng, sty, False))
  else:
    obj.sprite(cv, cam, x, z, obj.rider_rear(rng, sty, motor=True))


def _sprite_either_way(cv, cam, rng, x, z, parts):
  """A side-on sprite facing left or right at random."""
  obj.sprite(cv, cam, x, z, parts if rng.random() < 0.5 else obj.mirror(parts))


def _people(cv, cam, rng, sty, st):
  """Pedestrians on the sidewalks and crossings, cyclists, parked bikes."""
  xc = st['xc']
  for side, half in zip(st['sides'], st['half']):
    inner = half + street.KERB + side['lawn']
    for _ in range(rng.poisson(sty['persons'])):
      z = 3.0 + 40.0 * rng.random() ** 1.8  # more of them near: they are small
      x = xc + side['sign'] * (inner + rng.uniform(0.4, max(side['walk'] - 0.3, 0.5)))
      view = 'side' if rng.random() < 0.3 else 'front'
      for k in range(1 if rng.random() < 0.7 else int(rng.integers(2, 4))):  # alone or a group
        parts = obj.person_parts(rng, sty, view, detail=obj.detailed(cam, z, 0.8))
        _sprite_either_way(cv, cam, rng, x + rng.uniform(-0.7, 0.7) * k,
                           z + rng.uniform(-0.5, 0.5) * k, parts)
    if rng.random() < 0.4:  # parked bicycles by the kerb
      z = rng.uniform(3.0, 20.0)
      for k in range(int(rng.integers(1, 5))):
        obj.sprite(cv, cam, xc + side['sign'] * (inner + 0.5), z + 0.5 * k,
                   obj.bicycle_side(rng, sty, False))
  crossing = st['zebra'] or st['cross']
  if crossing and rng.random() < 0.6:
    for _ in range(1 + rng.poisson(1.5)):
      z = rng.uniform(crossing[0], crossing[0] + 3.0)
      parts = obj.person_parts(rng, sty, 'side', detail=obj.detailed(cam, z, 0.8))
      _sprite_either_way(cv, cam, rng, xc + rng.uniform(-st['half'][0], st['half'][1]), z, parts)
  if rng.random() < sty['cyclists']:
    edge = xc + st['median'] / 2 + st['n'][1] * st['lw'] - 0.8
    for _ in range(int(rng.integers(1, 4))):
      obj.sprite(cv, cam, edge + rng.uniform(-0.3, 0.3), 4.0 + 30.0 * rng.random() ** 1.5,
                 obj.rider_rear(rng, sty, motor=False))
  if st['cross'] and rng.random() < 0.5:  # a rider crossing at the intersection
    z = st['cross'][0] + rng.uniform(1.0, 6.0)
    make = obj.motorcycle_side if rng.random() < 0.3 else obj.bicycle_side
    _sprite_either_way(cv, cam, rng, rng.uniform(-10, 10), z, make(rng, sty, True))
  if rng.random() < 0.3:  # parked motorcycles at the kerb
    i = int(rng.integers(2))
    x = xc + (-1, 1)[i] * (st['half'][i] - 0.8)
    for k in range(int(rng.integers(1, 3))):
      obj.sprite(cv, cam, x, rng.uniform(4.0, 30.0) + 1.2 * k, obj.motorcycle_side(rng, sty, False))


def _furniture(cv, cam, rng, sty, look, st):
  """Street lamps, trees, sign posts and traffic lights along the kerbs."""
  xc = st['xc']
  for i, side in enumerate(st['sides']):
    s, kerb = side['sign'], xc + side['sign'] * (st['half'][i] + street.KERB)
    if rng.random() < 0.7:
      zs = np.arange(rng.uniform(3.0, 15.0), min(st['z_end'], 120.0), rng.uniform(18.0, 32.0))
      for z in zs.tolist():
        if not street.in_cross(st, z, 1.0):
          obj.sprite(cv, cam, kerb + s * 0.45, z, obj.lamp_parts(rng, sty, -s))
    if rng.random() < sty['trees']:
      x = kerb + s * (side['lawn'] / 2 if side['lawn'] else 1.1)
      zs = np.arange(rng.uniform(2.0, 10.0), min(st['z_end'], 100.0), rng.uniform(7.0, 13.0))
      for z in zs.tolist():
        if rng.random() < 0.85 and not street.in_cross(st, z, 2.0):
          obj.sprite(cv, cam, x, z, obj.tree_parts(rng, sty))
    for seg in side['segments']:
      if seg['kind'] == 'gap' and seg['yard'] == street.MAT_GRASS:  # trees in the yard
        for _ in range(int(rng.integers(0, 3))):
          x = xc + s * (side['front'] + rng.uniform(2.0, seg['setback'] - 1.0))
          obj.sprite(cv, cam, x, rng.uniform(seg['z0'], seg['z1']), obj.tree_parts(rng, sty))
  for _ in range(rng.poisson(sty['sign_posts'])):
    i = int(rng.integers(2))
    z = rng.uniform(4.0, 45.0)
    if not street.in_cross(st, z, 1.0):
      obj.sprite(cv, cam, xc + (-1, 1)[i] * (st['half'][i] + 0.6), z, obj.sign_parts(rng, sty))
  crossing = st['cross'] or st['zebra']
  if not crossing and rng.random() < 0.35:  # a signal for a crossing further on
    z = rng.uniform(15.0, 60.0)
    crossing = (z, z)
  if crossing:
    for i, s in enumerate((-1, 1)):
      x = xc + s * (st['half'][i] + 0.6)
      mast = s > 0 and rng.random() < 0.6
      obj.sprite(cv, cam, x, crossing[0] - 0.5, obj.signal_parts(rng, sty, look, -s, mast))
      if st['cross'] and rng.random() < 0.7:  # the far corner's, for us or for the cross street
        far = obj.signal_parts(rng, sty, look, -s, False, facing=rng.random() < 0.6)
        obj.sprite(cv, cam, x, st['cross'][1] + 0.5, far)


# ---------------------------------------------------------------- the camera's view


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
  _check_domain(domain)
  sty = STYLES[domain]
  rng = np.random.default_rng(seed)
  look = street.sample_look(rng, sty, WEATHER)
  cam = street.sample_camera(rng, sty)
  st = street.sample_street(rng, sty, look)
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


# ---------------------------------------------------------------- data source


def scene_seed(split, index, seed=0):
  """Render seed of scene `index` of `split`; splits and dataset seeds never share a scene."""
  return (seed * len(_SPLITS) + _SPLITS.index(split)) * 2**32 + index


# np.load parses the .npy header with ast.literal_eval, which CPython 3.11 cannot
# run in two threads at once ("SystemError: AST constructor recursion depth
# mismatch", seen in a 40-epoch demo run); grain reads items in two threads.
_NPY_LOAD_LOCK = threading.Lock()


class SyntheticSource:
  """Random-access synthetic scenes: source[i] -> dict(image, label, id), rendered on demand."""
  ignore_label = IGNORE_LABEL

  def __init__(self, split='train', num_images=None, height=256, width=512, domain='A',
               extra_classes=False, seed=0, cache_dir=''):
    if split not in _SPLITS:
      raise ValueError(f'unknown synthetic split {split!r}; expected one of {_SPLITS}')
    _check_domain(domain)
    if seed < 0:
      raise ValueError(f'synthetic dataset seed must be >= 0, got {seed}')
    self.split, self.domain, self.extra_classes, self.seed = split, domain, extra_classes, seed
    self.height, self.width = height, width
    self.num_images = _DEFAULT_SIZES[split] if num_images is None else int(num_images)
    if not 0 <= self.num_images < 2**32:
      raise ValueError(f'num_images must be in [0, 2**32), got {num_images}')
    self.class_names = class_names(domain, extra_classes)
    self.num_classes = len(self.class_names)
    # Rendering costs ~25-60 ms a scene; later epochs read the cached arrays.
    self.cache_dir = os.path.join(os.path.expanduser(cache_dir), _renderer_hash()) if cache_dir else ''

  def __len__(self):
    return self.num_images

  def __getitem__(self, index):
    index = int(index)
    if index < 0:
      index += self.num_images
    if not 0 <= index < self.num_images:
      raise IndexError(f'index {index} out of range for {self!r}')
    image_id = f'synthetic-{self.domain}-{self.split}-s{self.seed}-{index:06d}'
    image, label = self._cached_render(index, image_id)
    return dict(image=image, label=label, id=image_id)

  def _cached_render(self, index, image_id):
    render = lambda: render_scene(scene_seed(self.split, index, self.seed), self.height,
                                  self.width, self.domain, self.extra_classes)
    if not self.cache_dir:
      return render()
    extra = '-x' if self.extra_classes else ''
    path = os.path.join(self.cache_dir, f'{image_id}-{self.height}x{self.width}{extra}.npy')
    if os.path.exists(path):
      with _NPY_LOAD_LOCK:
        both = np.load(path)
      return both[..., :3], both[..., 3]
    image, label = render()
    os.makedirs(self.cache_dir, exist_ok=True)
    tmp = f'{path}.tmp{os.getpid()}-{threading.get_ident()}'  # grain reads in threads too
    with open(tmp, 'wb') as f:  # np.save(str) would append '.npy' to the temp name
      np.save(f, np.concatenate([image, label[..., None]], axis=-1))
    os.replace(tmp, path)  # atomic: concurrent workers never see half a file
    return image, label

  def __repr__(self):
    return (f'SyntheticSource(split={self.split!r}, num_images={self.num_images}, '
            f'height={self.height}, width={self.width}, domain={self.domain!r}, '
            f'extra_classes={self.extra_classes}, seed={self.seed})')


@functools.cache
def _renderer_hash():
  """Hash of the renderer's source files, so a cache never outlives a change."""
  digest = hashlib.sha256()
  here = os.path.dirname(os.path.abspath(__file__))
  for name in ('synthetic.py', 'synthetic_street.py', 'synthetic_objects.py', 'canvas.py'):
    with open(os.path.join(here, name), 'rb') as f:
      digest.update(f.read())
  return digest.hexdigest()[:12]


def main(argv=None):
  """Write sample images over their colourised labels; print render time and class shares."""
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument('--out', default='/tmp/synth')
  p.add_argument('--n', type=int, default=4)
  p.add_argument('--split', default='val')
  p.add_argument('--domain', default='A')
  p.add_argument('--extra_classes', action='store_true')
  p.add_argument('--height', type=int, default=256)
  p.add_argument('--width', type=int, default=512)
  args = p.parse_args(argv)
  os.makedirs(args.out, exist_ok=True)
  src = SyntheticSource(args.split, args.n, args.height, args.width, args.domain,
                        args.extra_classes)
  counts, seconds = np.zeros(256, np.int64), 0.0
  for i in range(len(src)):
    start = time.perf_counter()
    item = src[i]
    seconds += time.perf_counter() - start
    counts += np.bincount(item['label'].ravel(), minlength=256)
    both = np.concatenate([item['image'], colorize(item['label'])], axis=0)
    Image.fromarray(both).save(os.path.join(args.out, f'{item["id"]}.png'))
  print(f'{src!r}: {1000 * seconds / max(len(src), 1):.1f} ms a scene, samples in {args.out}')
  for k, name in enumerate(src.class_names + ('unlabelled',)):
    share = counts[k if k < src.num_classes else IGNORE_LABEL] / max(counts.sum(), 1)
    print(f'{name:>14s} {100 * share:6.2f}%')


if __name__ == '__main__':
  main()
