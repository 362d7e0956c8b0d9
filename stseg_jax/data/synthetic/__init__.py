"""Procedural driving scenes labelled with Cityscapes train ids: the default, download-free data.

A scene is laid out in a street frame (metres; X right, Y up, Z forward from the camera) and
rasterised with a z-buffer, so pixels and labels always agree and one seed gives the same
scene at any resolution, only sharper. Colours overlap between classes on purpose (grey road,
walls, buildings and cars; green trees, grass and signs), so shape and context decide. Domain
'B' is another city: its own palette, fog or dusk, a higher camera and wider roads. With
extra_classes=True road markings get ids of their own (19 lane marking, 20 crosswalk), the way
Mapillary splits what Cityscapes calls road.

  python -m stseg_jax.synthetic_preview --out=/tmp/synth --n=4 --domain=B

Modules:
  source.py     SyntheticSource (a split's scenes, rendered on demand, cached) and scene_seed
  scene.py      render_scene: the street, the things in it, the camera's view
  styles.py     the two cities (domains A and B) and their weathers
  classes.py    label ids and class names
  layout.py     sampling a street's layout; street.py draws it (sky, ground, facades)
  vehicles.py, people.py, furniture.py   the things in the street
  shapes.py     camera, colours, surfaces in perspective, flat sprites
  canvas.py     the z-buffered rasteriser
"""
from stseg_jax.data.labels import IGNORE_LABEL  # noqa: F401
from stseg_jax.data.synthetic.classes import CITYSCAPES_CLASSES  # noqa: F401
from stseg_jax.data.synthetic.classes import EXTRA_CLASSES  # noqa: F401
from stseg_jax.data.synthetic.classes import class_names  # noqa: F401
from stseg_jax.data.synthetic.scene import render_scene  # noqa: F401
from stseg_jax.data.synthetic.source import SyntheticSource  # noqa: F401
from stseg_jax.data.synthetic.source import scene_seed  # noqa: F401
