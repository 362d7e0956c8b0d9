"""CamVid source: the real SegNet split when present, bad inputs on tiny fixtures."""
import os

import numpy as np
import pytest
from PIL import Image

from configs import default
from stseg_jax.data import camvid
from stseg_jax.data import sources

# ../shared beside the checkout, as in CI.
REAL_ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..',
                                         'shared', 'data', 'camvid'))
needs_real = pytest.mark.skipif(not os.path.isdir(REAL_ROOT), reason='CamVid not present')


@needs_real
def test_real_splits():
  train, val = camvid.CamVidSource(REAL_ROOT, 'train'), camvid.CamVidSource(REAL_ROOT, 'val')
  assert (len(train), len(val)) == (367, 101)
  item = train[0]
  assert item['image'].shape == (360, 480, 3) and item['image'].dtype == np.uint8
  assert item['label'].shape == (360, 480) and item['label'].dtype == np.uint8
  assert item['id'] == '0001TP_006690'
  values = np.unique(np.concatenate([val[i]['label'].ravel() for i in range(0, 101, 10)]))
  assert set(values.tolist()) <= set(range(11)) | {255}
  assert 255 in values and 11 not in values  # Void is present and remapped.


@needs_real
def test_real_subset_and_repr():
  train = camvid.CamVidSource(REAL_ROOT, 'train')
  sub = train.subset([5, 2])
  assert len(sub) == 2 and sub[1]['id'] == train[2]['id']
  assert repr(sub) != repr(train)
  assert len(camvid.CamVidSource(REAL_ROOT, 'train', indices=[0, 1, 2])) == 3


def make_root(tmp_path, n=2, size=(6, 8)):
  """A tiny SegNet-layout dataset: n image/label pairs and train.txt."""
  os.makedirs(tmp_path / 'train')
  os.makedirs(tmp_path / 'trainannot')
  lines = []
  for i in range(n):
    Image.fromarray(np.full(size + (3,), 40 * i, np.uint8)).save(tmp_path / 'train' / f'{i}.png')
    Image.fromarray(np.full(size, i, np.uint8)).save(tmp_path / 'trainannot' / f'{i}.png')
    lines.append(f'train/{i}.png trainannot/{i}.png')
  (tmp_path / 'train.txt').write_text('\n'.join(lines) + '\n')
  return str(tmp_path)


def test_fixture_reads_and_maps_void(tmp_path):
  root = make_root(tmp_path)
  Image.fromarray(np.array([[0, 11], [10, 3]], np.uint8).repeat(3, 0).repeat(4, 1)).save(
      tmp_path / 'trainannot' / '1.png')
  src = camvid.CamVidSource(root)
  assert len(src) == 2 and src.num_classes == 11 and len(camvid.CLASS_NAMES) == 11
  label = src[1]['label']
  assert label[0, 0] == 0 and label[0, 4] == 255 and label[3, 0] == 10


def test_missing_root_and_list_file(tmp_path):
  with pytest.raises(FileNotFoundError, match='nowhere'):
    camvid.CamVidSource(str(tmp_path / 'nowhere'))
  with pytest.raises(FileNotFoundError, match='val.txt'):
    camvid.CamVidSource(make_root(tmp_path), 'val')


def test_missing_listed_file_is_named_at_open(tmp_path):
  root = make_root(tmp_path)
  os.remove(tmp_path / 'trainannot' / '1.png')
  with pytest.raises(FileNotFoundError, match='trainannot/1.png'):
    camvid.CamVidSource(root)


def test_corrupt_png_is_named(tmp_path):
  root = make_root(tmp_path)
  path = tmp_path / 'train' / '1.png'
  path.write_bytes(path.read_bytes()[:40])  # Truncated.
  src = camvid.CamVidSource(root)
  src[0]
  with pytest.raises(ValueError, match='train/1.png'):
    src[1]
  path.write_bytes(b'not a png at all')
  with pytest.raises(ValueError, match='train/1.png'):
    src[1]


def test_out_of_range_label_names_file_and_values(tmp_path):
  root = make_root(tmp_path)
  Image.fromarray(np.full((6, 8), 19, np.uint8)).save(tmp_path / 'trainannot' / '0.png')
  with pytest.raises(ValueError, match=r'trainannot/0.png.*\[19\]'):
    camvid.CamVidSource(root)[0]


def test_size_mismatch_names_both_files(tmp_path):
  root = make_root(tmp_path)
  Image.fromarray(np.zeros((5, 8), np.uint8)).save(tmp_path / 'trainannot' / '0.png')
  with pytest.raises(ValueError, match='train/0.png.*trainannot/0.png'):
    camvid.CamVidSource(root)[0]


def test_malformed_list_line(tmp_path):
  root = make_root(tmp_path)
  (tmp_path / 'train.txt').write_text('train/0.png\n')
  with pytest.raises(ValueError, match='train.txt:1'):
    camvid.CamVidSource(root)


def _data_config(**fields):
  """configs/default.py's data section on the real CamVid, with `fields` changed."""
  config = default.get_config().data
  config.name, config.root = 'camvid', REAL_ROOT
  config.update(fields)
  return config


@needs_real
def test_resize_factor_and_sequence_split():
  config = _data_config(resize_factor=2 / 3, labeled_fraction=0.25, split_seed=0,
                        labeled_sequences=('0006R0',))
  labeled = sources.open_source(config, 'train_labeled')
  unlabeled = sources.open_source(config, 'train_unlabeled')
  assert (len(labeled), len(unlabeled)) == (101, 266)  # 0006R0's frames vs the other two
  assert all(labeled[i]['id'].startswith('0006R0') for i in (0, 50, 100))
  assert not any(unlabeled[i]['id'].startswith('0006R0') for i in (0, 100, 265))
  item = labeled[0]
  assert item['image'].shape == (240, 320, 3) and item['label'].shape == (240, 320)
  # Nearest neighbour: still labels (void 255 included), no blended values.
  full = sources.open_source(_data_config(), 'train')
  original = next(full[i] for i in range(len(full)) if full[i]['id'] == item['id'])
  assert set(np.unique(item['label'])) <= set(np.unique(original['label']))
  assert sources.largest_image_side(labeled) == 320
  config.labeled_sequences = ()
  assert len(sources.open_source(config, 'train_labeled')) == 92  # the seeded quarter
