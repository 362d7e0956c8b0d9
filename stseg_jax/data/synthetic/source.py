"""SyntheticSource: random-access synthetic scenes of a split, rendered on demand and cached."""
import functools
import hashlib
import os
import threading

import numpy as np

from stseg_jax.data.labels import IGNORE_LABEL
from stseg_jax.data import palette as palette_lib
from stseg_jax.data.synthetic.classes import class_names
from stseg_jax.data.synthetic.scene import render_scene
from stseg_jax.data.synthetic.styles import check_domain


_SPLITS = ('train', 'val', 'unlabeled', 'test')

_DEFAULT_SIZES = {'train': 500, 'val': 100, 'unlabeled': 2000, 'test': 100}


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
    check_domain(domain)
    if seed < 0:
      raise ValueError(f'synthetic dataset seed must be >= 0, got {seed}')
    self.split, self.domain, self.extra_classes, self.seed = split, domain, extra_classes, seed
    self.height, self.width = height, width
    self.num_images = _DEFAULT_SIZES[split] if num_images is None else int(num_images)
    if not 0 <= self.num_images < 2**32:
      raise ValueError(f'num_images must be in [0, 2**32), got {num_images}')
    self.class_names = class_names(domain, extra_classes)
    self.palette = (np.concatenate([palette_lib.PALETTE, palette_lib.EXTRA_PALETTE])
                    if extra_classes else palette_lib.PALETTE)
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
  """Hash of the renderer's source files (this package's), so a cache never outlives a change."""
  digest = hashlib.sha256()
  here = os.path.dirname(os.path.abspath(__file__))
  for name in sorted(os.listdir(here)):
    if name.endswith('.py'):
      with open(os.path.join(here, name), 'rb') as f:
        digest.update(f.read())
  return digest.hexdigest()[:12]
