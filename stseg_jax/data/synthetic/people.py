"""People and bikes of the synthetic street: pedestrians, riders, bicycles, motorcycles."""
from stseg_jax.data.synthetic.classes import BICYCLE, MOTORCYCLE, PERSON, RIDER
from stseg_jax.data.synthetic.shapes import DARK, pick, seg, tone


_HAIR = ((30, 25, 20), (70, 45, 25), (150, 110, 60), (120, 120, 120))

_SKIN = ((235, 200, 170), (200, 150, 115), (150, 100, 70), (95, 65, 45))


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
