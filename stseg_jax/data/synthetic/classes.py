"""Label ids and class names of the synthetic scenes: Cityscapes train ids, plus two.

With extra_classes=True road markings get ids of their own (19 lane marking, 20 crosswalk),
the way Mapillary splits what Cityscapes calls road.
"""
from stseg_jax.data.synthetic.styles import check_domain

(ROAD, SIDEWALK, BUILDING, WALL, FENCE, POLE, LIGHT, SIGN, VEGETATION, TERRAIN, SKY, PERSON, RIDER,
 CAR, TRUCK, BUS, TRAIN, MOTORCYCLE, BICYCLE, MARKING, CROSSWALK) = range(21)

CITYSCAPES_CLASSES = ('road', 'sidewalk', 'building', 'wall', 'fence', 'pole', 'traffic light',
                      'traffic sign', 'vegetation', 'terrain', 'sky', 'person', 'rider', 'car',
                      'truck', 'bus', 'train', 'motorcycle', 'bicycle')
EXTRA_CLASSES = ('lane marking', 'crosswalk')  # ids 19, 20 with extra_classes=True


def class_names(domain='A', extra_classes=False):
  """Names of the label ids of a domain's scenes, in id order."""
  check_domain(domain)
  return CITYSCAPES_CLASSES + (EXTRA_CLASSES if extra_classes else ())
