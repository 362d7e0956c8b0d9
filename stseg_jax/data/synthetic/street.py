"""Drawing a sampled street (layout.py): sky, ground and its markings, facades, the
street's end and the median. Uses no random numbers.
"""
import numpy as np

from stseg_jax.data.synthetic import shapes
from stseg_jax.data.synthetic.classes import (BUILDING, CROSSWALK, FENCE, MARKING, ROAD, SIDEWALK,
                                              SKY, TERRAIN, VEGETATION, WALL)
from stseg_jax.data.synthetic.layout import (in_cross, KERB, MAT_CENTRE, MAT_CROSS, MAT_GRASS,
                                             MAT_KERB, MAT_MARK, MAT_PLAZA, MAT_RAIL, MAT_ROAD,
                                             MAT_WALK)
from stseg_jax.data.synthetic.shapes import wrap


def draw_sky(cv, cam, look):
  """The sky gradient above the horizon, at infinite depth."""
  top, bottom = look['sky']
  rows = int(np.searchsorted(cv.v, cam.v0 + 1e-3))  # the ground covers the rest
  t = np.clip((cv.v[:rows] - (cam.v0 - 0.55)) / 0.55, 0.0, 1.0)
  cv.image[:, :rows] = (top[:, None] + (bottom - top)[:, None] * t)[:, :, None]
  cv.label[:rows] = SKY


def draw_ground(cv, cam, st, look, extra):
  """Road, kerbs, sidewalks, lawns, yards and markings: every pixel below the horizon."""
  r0 = int(np.searchsorted(cv.v, cam.v0 + 1e-3))
  if r0 >= cv.height:
    return
  z = np.minimum(cam.focal * cam.height / (cv.v[r0:] - cam.v0), 5000.0).astype(np.float32)
  zc = z[:, None]
  x = ((cv.u - cam.u0) / cam.focal)[None, :] * zc
  dx = x - st['xc']
  mat = _ground_materials(dx, z, zc, st)
  image = cv.image[:, r0:]
  for c in range(3):
    np.take(st['colours'][:, c], mat, out=image[c])
  # Paving joints on sidewalks and plazas, and the shadow cast by one row of buildings.
  joints = (wrap(dx, 0.8) < 0.05) | (wrap(zc, 0.8) < 0.05)
  joints &= (mat == MAT_WALK) | (mat == MAT_PLAZA)
  np.multiply(image, 0.85, out=image, where=joints)
  if look['shadow'] < 1.0:
    shadow = look['sun'] * x > look['shadow_edge'] + look['shadow_slope'] * zc
    np.multiply(image, look['shadow'], out=image, where=shadow)
  mark, cross = (MARKING, CROSSWALK) if extra else (ROAD, ROAD)
  labels = np.array([ROAD, SIDEWALK, SIDEWALK, TERRAIN, mark, mark, cross, ROAD, SIDEWALK, ROAD],
                    np.uint8)
  cv.label[r0:] = labels[mat]
  cv.depth[r0:] = zc


def _ground_materials(dx, z, zc, st):
  """Material per ground pixel from its offset dx from the road centre and its depth z."""
  (left, right), m = st['half'], st['median'] / 2
  sl, sr = st['sides']
  # Zones across the street, left to right: yard, sidewalk, lawn, kerb, road, median, road, ...
  lefts = np.cumsum([left, KERB, sl['lawn'], sl['walk']])[::-1]
  rights = np.cumsum([right, KERB, sr['lawn'], sr['walk']])
  edges = np.concatenate([-lefts, [-m, m], rights]).astype(np.float32)
  zone_mat = np.array([0, MAT_WALK, MAT_GRASS, MAT_KERB, MAT_ROAD,
                       MAT_WALK if st['barrier'] else MAT_GRASS,
                       MAT_ROAD, MAT_KERB, MAT_GRASS, MAT_WALK, 0], np.uint8)
  zone = np.zeros(dx.shape, np.uint8)
  for edge in edges:
    zone += dx > edge
  mat = np.take(zone_mat, zone)
  for side, zid in ((sl, 0), (sr, 10)):  # behind the sidewalk: what the facade row has there
    starts = np.array([s['z0'] for s in side['segments']], np.float32)
    yards = [s['yard'] if s['kind'] == 'gap' else MAT_WALK for s in side['segments']]
    idx = np.searchsorted(starts, z, side='right') - 1
    idx[z > st['z_end']] = len(starts)
    mat = np.where(zone == zid, np.array(yards + [MAT_GRASS], np.uint8)[idx][:, None], mat)
  road = (zone == 4) | (zone == 6)
  _lane_markings(mat, road, dx, z, zc, st)
  if st['cross']:
    z0, z1 = st['cross']
    rows = (z >= z0) & (z <= z1)
    corner = ((z < z0 + 3.0) | (z > z1 - 3.0))[rows, None]
    mat[rows] = np.where(road[rows], mat[rows], np.where(corner, MAT_WALK, MAT_ROAD))
  if st['zebra']:
    z0, z1 = st['zebra']
    rows = (z >= z0) & (z <= z1)
    mat[rows] = np.where(road[rows] & (wrap(dx[rows], 1.0) < 0.5), MAT_CROSS, mat[rows])
  for t in st['tracks']:
    mat[road & (np.abs(np.abs(dx - t) - 0.72) < 0.06)] = MAT_RAIL
  return mat


def _lane_markings(mat, road, dx, z, zc, st):
  """Dashed lane lines, the centre line, edge lines and the stop line, in place."""
  lw, (n_left, n_right), m = st['lw'], st['n'], st['median'] / 2
  period, duty, phase = st['dash']
  width = 0.16
  keep = np.ones_like(z, bool)  # no lines across crossings
  for span in (st['cross'], st['zebra']):
    if span:
      keep &= (z < span[0] - 0.5) | (z > span[1] + 0.5)
  keep = keep[:, None]
  ad = np.abs(dx) - m
  q = ad / lw
  k = np.rint(q)
  lanes = np.where(dx > 0, n_right, n_left)
  dash = (wrap(zc + phase, period) < period * duty) & keep
  mat[(np.abs(q - k) * lw < width / 2) & (k >= 1) & (k < lanes) & dash & road] = MAT_MARK
  if m == 0:
    if st['dashed_centre']:
      centre = (np.abs(dx) < width / 2) & dash
    else:  # a double line
      centre = (np.abs(np.abs(dx) - 0.12) < width / 2) & keep
    mat[centre & road] = MAT_CENTRE
  if st['edge_lines']:
    mat[(np.abs(ad - lanes * lw + 0.3) < width / 2) & road & keep] = MAT_MARK
  stop = st['zebra'] or st['cross']
  if stop:
    rows = ((z > stop[0] - 1.4) & (z < stop[0] - 0.9))[:, None]
    mat[rows & road & (dx > m) & (dx < m + n_right * lw)] = MAT_MARK


def draw_side(cv, cam, st, side, look):
  """A row of facades and gaps along one side of the street, and a kerb railing."""
  s, xc = side['sign'], st['xc']
  # The row with the sun behind it is in its own shade (as much as the ground shadow is dark).
  shade = 1.0 if side['lit'] else 0.55 + 0.45 * look['shadow']
  front = xc + s * side['front']
  before = None
  for seg in side['segments']:
    x = front + s * seg['setback']
    if seg['kind'] == 'building':
      # Its near end wall shows only beside a gap, a street corner or a deeper neighbour.
      end = before is None or before['setback'] > seg['setback'] or before['z1'] < seg['z0']
      _draw_building(cv, cam, seg, x, s, shade, end)
      _draw_boundary(cv, cam, seg['boundary'], front, seg['z0'], seg['z1'], s, shade)
    else:
      _draw_gap(cv, cam, seg, front, x, s, shade)
    before = seg
  if side['railing']:
    z0, z1, colour = side['railing']
    rail = dict(kind='fence', height=1.0, fence='bars', colour=colour)
    _draw_boundary(cv, cam, rail, xc + s * (st['half'][(s + 1) // 2] + 0.4), z0, z1, s, 1.0)


def _draw_building(cv, cam, b, x, s, shade, end=False):
  """A facade on the street, and its near end wall if that can show."""
  shapes.plane_x(cv, cam, x, b['z0'], b['z1'], 0.0, b['height'], BUILDING,
              lambda a, y: facade(a, y, b, shade))
  if end:
    x0, x1 = sorted((x, x + s * 30.0))
    shapes.plane_z(cv, cam, x0, x1, 0.0, b['height'], b['z0'], BUILDING,
                lambda a, y: facade(a, y, b, shade * 0.85))


def facade(a, y, b, shade):
  """Facade shader: wall, a window grid above the ground floor, shop windows, a cornice."""
  fa, fy = a * (1.0 / b['spacing']), (y - b['ground']) * (1.0 / b['floor'])
  ia, iy = np.floor(fa), np.floor(fy)
  win = (np.abs(fa - ia - 0.5) < b['win_w'] / 2) & (np.abs(fy - iy - 0.5) < b['win_h'] / 2)
  win &= (iy >= 0) & (y < b['height'] - 1.2)
  # Every window gets its own brightness (blinds, reflections) from a hash of its grid cell.
  cell = ia.astype(np.int32) * 7919 + iy.astype(np.int32) * 104729 + b['salt']
  level = (cell % 97) * (1.0 / 97)
  kind = win.astype(np.uint8)
  if b['lit']:
    kind[win & (level < b['lit'])] = 2
  kind[(y < b['ground'] - 0.6) & (y > 0.4) & (wrap(a, b['shop']) < 0.7 * b['shop'])] = 3
  kind[y > b['height'] - 0.5] = 4
  colour = shapes.mix(kind, b['wall'], b['glass'], b['glow'] / shade, b['glass'] * 0.8,
                   b['wall'] * 1.12)
  colour *= np.where(kind == 1, 0.7 + 0.6 * level, 1.0).astype(np.float32) * shade
  return colour


def _draw_gap(cv, cam, g, x_front, x_back, s, shade):
  """What shows between buildings: trees or a far building, behind a wall, fence or hedge."""
  if g['trees']:
    w0, w1 = g['wave']
    top = lambda a: g['tree_height'] + 1.5 * np.sin(a * 0.9 + w0) + np.sin(a * 2.3 + w1)
    paint = lambda a, y: g['leaf'][:, None] * (0.75 + 0.3 * np.clip(y / top(a), 0, 1))
    shapes.plane_x(cv, cam, x_back, g['z0'] - 3.0, g['z1'] + 3.0, 0.0, g['tree_height'] + 3.0,
                VEGETATION, paint, cutout=lambda a, y: y < top(a))
  else:
    _draw_building(cv, cam, g['back'], x_back, s, shade)
  _draw_boundary(cv, cam, g['boundary'], x_front, g['z0'], g['z1'], s, shade)


def _draw_boundary(cv, cam, bnd, x, z0, z1, s, shade):
  """A wall, fence or hedge along the line X = x, thickening away from the street."""
  h, colour = bnd['height'], bnd['colour'] * shade
  if bnd['kind'] == 'wall':
    x0, x1 = sorted((x, x + s * 0.3))
    shapes.box(cv, cam, x0, x1, 0.0, h, z0, z1, WALL, colour)
  elif bnd['kind'] == 'hedge':
    x0, x1 = sorted((x - s * 0.6, x + s * 0.3))
    shapes.box(cv, cam, x0, x1, 0.0, min(h, 1.8), z0, z1, VEGETATION, bnd['leaf'])
  elif bnd['kind'] == 'fence':
    paint, cutout = _fence(bnd['fence'], h, colour)
    shapes.plane_x(cv, cam, x, z0, z1, 0.0, h, FENCE, paint,
                alpha=0.5 if bnd['fence'] == 'mesh' else 1.0, cutout=cutout)


def _fence(kind, h, colour):
  """Fence shader and cutout: bars between rails, a wire mesh (blended), or solid boards."""
  if kind == 'bars':
    bars = lambda a, y: ((wrap(a, 0.25) < 0.1) | (y > h - 0.1) | (np.abs(y - 0.2) < 0.06)
                         | (wrap(a, 2.5) < 0.12))
    return colour * 0.6, bars
  if kind == 'mesh':
    return lambda a, y: shapes.mix(wrap(a, 2.5) < 0.12, colour * 0.8, colour * 0.5), None
  return lambda a, y: shapes.mix(wrap(a, 0.2) < 0.02, colour * 0.9, colour * 0.6), None


def draw_end(cv, cam, st):
  """The block across the street end, or far buildings and hills where the street runs on."""
  end = st['end']
  for x0, x1, b in end['items']:
    if b['height'] > 0:
      shapes.plane_z(cv, cam, x0, x1, 0.0, b['height'], end['far'], BUILDING,
                  lambda a, y, b=b: facade(a, y, b, 0.9))
  if not st['end_block']:
    for x, h, z in end['hills']:
      hill = [('e', (0.0, 0.0, 3 * h, h), VEGETATION, end['leaf'] * 0.9)]
      shapes.sprite(cv, cam, x, z + end['far'], hill)


def draw_median(cv, cam, st):
  """A concrete barrier or low bushes along a central median, broken by the intersection."""
  m, xc = st['median'] / 2, st['xc']
  if m == 0:
    return
  spans = [(0.5, st['z_end'])]
  if st['cross']:
    spans = [(0.5, st['cross'][0] - 1.0), (st['cross'][1] + 1.0, st['z_end'])]
  wall, leaf = st['median_colours']
  if st['barrier']:
    for z0, z1 in spans:
      shapes.box(cv, cam, xc - 0.3, xc + 0.3, 0.0, 0.9, z0, z1, WALL, wall)
    return
  for dx, z in st['bushes']:
    if not in_cross(st, z, 1.0):
      shapes.sprite(cv, cam, xc + dx * m, z, [('e', (0.0, 0.4, m * 0.8, 0.6), VEGETATION, leaf)])
