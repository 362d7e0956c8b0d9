"""Opens the data source a config names: `config.data.name` + split."""
import os

from stseg_jax.data import camvid
from stseg_jax.data import synthetic

NAMES = ('synthetic', 'camvid')


def open_source(data_config, split):
  """The random-access source for `split`, validated on open."""
  name = data_config.name
  if name == 'synthetic':
    sizes = {'train': data_config.get('num_train', None),
             'val': data_config.get('num_val', None),
             'unlabeled': data_config.get('num_unlabeled', None)}
    return synthetic.SyntheticSource(
        split=split, num_images=sizes.get(split), height=data_config.height,
        width=data_config.width, domain=data_config.get('domain', 'A'),
        extra_classes=data_config.get('extra_classes', False),
        seed=data_config.get('source_seed', 0),
        cache_dir=data_config.get('cache_dir', ''))
  if name == 'camvid':
    root = os.path.expanduser(data_config.root)
    if not os.path.isdir(root):
      raise FileNotFoundError(
          f'config.data.root: CamVid folder {root!r} does not exist')
    return camvid.CamVidSource(root, split=split)
  raise ValueError(f'config.data.name: {name!r} is not one of {NAMES}')
