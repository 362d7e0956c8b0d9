"""TfdsCityscapesSource on a real tfds build: tiny fake Cityscapes zips in the layout the installed
tfds `cityscapes` builder reads, prepared offline as array_record, then read through the source
and through sources.open_source (and once more in a process where TensorFlow is not importable).
"""
import importlib.util
import io
import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from PIL import Image

# TensorFlow (which tfds needs to build, not to read) is only imported in the build's own
# subprocess: loaded into the pytest process it makes a later `import torch` segfault.
for _module in ('tensorflow', 'array_record', 'tensorflow_datasets'):
  if importlib.util.find_spec(_module) is None:
    pytest.skip(f'{_module} is not installed', allow_module_level=True)

from stseg_jax.data import cityscapes  # pylint: disable=g-import-not-at-top
from stseg_jax.data import sources  # pylint: disable=g-import-not-at-top

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = 'semantic_segmentation'
H, W = 8, 16
# Zip split folder -> (cities, frames per city). The builder always generates all three splits.
LAYOUT = {'train': (('aachen', 'bochum'), 2), 'val': (('frankfurt', 'lindau'), 1),
          'test': (('berlin',), 1)}
TFDS_SPLIT = {'train': 'train', 'val': 'validation', 'test': 'test'}


def _png(array):
  buffer = io.BytesIO()
  Image.fromarray(array).save(buffer, format='PNG')
  return buffer.getvalue()


def _write_zips(manual_dir):
  """leftImg8bit_trainvaltest.zip + gtFine_trainvaltest.zip; returns {split: {id: (image, ids)}}.

  Images are seeded noise (a channel swap would show); labels walk through every label id
  0..33 with a per-image offset; the test split is all 0 (unlabeled), as in the real release.
  """
  rng = np.random.default_rng(0)
  expected = {}
  with zipfile.ZipFile(os.path.join(manual_dir, 'leftImg8bit_trainvaltest.zip'), 'w') as images, \
       zipfile.ZipFile(os.path.join(manual_dir, 'gtFine_trainvaltest.zip'), 'w') as labels:
    for archive in (images, labels):  # The real zips carry these beside the data folder.
      archive.writestr('README', 'fake Cityscapes for a test\n')
      archive.writestr('license.txt', 'none\n')
    n = 0
    for split, (cities, frames) in LAYOUT.items():
      expected[split] = {}
      for city in cities:
        for frame in range(frames):
          image_id = f'{city}_{frame:06d}_{19 + frame:06d}'
          image = rng.integers(0, 256, (H, W, 3), np.uint8)
          ids = ((np.arange(H * W) + 5 * n) % 34).reshape(H, W).astype(np.uint8)
          if split == 'test':
            ids[:] = 0
          n += 1
          expected[split][image_id] = (image, ids)
          images.writestr(f'leftImg8bit/{split}/{city}/{image_id}_leftImg8bit.png', _png(image))
          gt = f'gtFine/{split}/{city}/{image_id}_gtFine'
          labels.writestr(f'{gt}_labelIds.png', _png(ids))
          # Files the builder must ignore.
          labels.writestr(f'{gt}_instanceIds.png', _png(ids.astype(np.uint16) * 1000))
          labels.writestr(f'{gt}_color.png', _png(np.zeros((H, W, 4), np.uint8)))
          labels.writestr(f'{gt}_polygons.json', json.dumps({'imgHeight': H, 'imgWidth': W}))
  return expected


# Runs in a fresh interpreter with the network switched off.
BUILD = r'''
import os, socket, sys
def no_network(*args, **kwargs):
  raise AssertionError(f'network access during a hermetic test: {args!r}')
socket.socket.connect = socket.socket.connect_ex = no_network
socket.getaddrinfo = no_network
import tensorflow_datasets as tfds
manual_dir, data_dir, download_dir = sys.argv[1:4]
builder = tfds.builder('cityscapes/%s', data_dir=data_dir, file_format='array_record')
builder.download_and_prepare(
    download_dir=download_dir,
    download_config=tfds.download.DownloadConfig(manual_dir=manual_dir, try_download_gcs=False))
''' % CONFIG


@pytest.fixture(scope='module')
def prepared(tmp_path_factory):
  """(data_dir, expected): cityscapes/semantic_segmentation prepared as array_record."""
  tmp = tmp_path_factory.mktemp('cityscapes_tfds')
  manual_dir, data_dir, download_dir = (str(tmp / d) for d in ('manual', 'data', 'downloads'))
  os.makedirs(manual_dir)
  expected = _write_zips(manual_dir)
  proc = subprocess.run([sys.executable, '-c', BUILD, manual_dir, data_dir, download_dir],
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  # Only the manual zips were extracted; nothing was downloaded.
  assert os.listdir(download_dir) == ['extracted']
  return data_dir, expected


def _check_items(source, expected):
  assert len(source) == len(expected)
  ids = []
  for i in range(len(source)):
    item = source[i]
    assert set(item) == {'image', 'label', 'id'} and isinstance(item['id'], str)
    image, label_ids = expected[item['id']]
    assert item['image'].dtype == np.uint8 and item['image'].shape == (H, W, 3)
    np.testing.assert_array_equal(item['image'], image)
    assert item['label'].dtype == np.uint8 and item['label'].shape == (H, W)
    np.testing.assert_array_equal(item['label'], cityscapes.ID_TO_TRAIN_ID[label_ids])
    ids.append(item['id'])
  assert sorted(ids) == sorted(expected)
  return ids


def test_prepared_as_array_record(prepared):
  data_dir, expected = prepared
  path = cityscapes.prepared_info(data_dir, CONFIG)
  assert path == os.path.join(data_dir, 'cityscapes', CONFIG, '1.0.0', 'dataset_info.json')
  with open(path) as f:
    info = json.load(f)
  assert info['fileFormat'] == 'array_record'
  sizes = {s['name']: sum(int(n) for n in s['shardLengths']) for s in info['splits']}
  assert sizes == {TFDS_SPLIT[split]: len(items) for split, items in expected.items()}


def test_train_items_match_the_pngs(prepared):
  data_dir, expected = prepared
  source = cityscapes.TfdsCityscapesSource(data_dir, split='train')
  assert source.num_classes == 19 and source.ignore_label == 255
  ids = _check_items(source, expected['train'])
  # Every label id 0..33 was written, so both evaluated and ignored (255) ids were mapped.
  labels = np.concatenate([source[i]['label'].ravel() for i in range(len(source))])
  assert set(np.unique(labels).tolist()) == set(range(19)) | {255}
  again = cityscapes.TfdsCityscapesSource(data_dir, split='train')
  assert [again[i]['id'] for i in range(len(again))] == ids  # Same order on every open.
  assert repr(again) == repr(source) and 'n=4' in repr(source)


def test_val_and_test_splits(prepared):
  data_dir, expected = prepared
  val = cityscapes.TfdsCityscapesSource(data_dir, split='val')  # tfds calls it 'validation'.
  assert val.split == 'validation'
  _check_items(val, expected['val'])
  assert repr(val) == repr(cityscapes.TfdsCityscapesSource(data_dir, split='validation'))
  assert repr(val) != repr(cityscapes.TfdsCityscapesSource(data_dir, split='train'))
  test = cityscapes.TfdsCityscapesSource(data_dir, split='test')
  _check_items(test, expected['test'])
  assert (test[0]['label'] == 255).all()
  with pytest.raises(ValueError, match='train_extra'):
    cityscapes.TfdsCityscapesSource(data_dir, split='train_extra')


def test_open_source_cityscapes_tfds(prepared):
  from configs import default  # pylint: disable=g-import-not-at-top
  data_dir, expected = prepared
  config = default.get_config()
  config.data.name, config.data.root = 'cityscapes_tfds', data_dir
  direct = cityscapes.TfdsCityscapesSource(data_dir, split='train')
  source = sources.open_source(config.data, 'train')
  assert isinstance(source, cityscapes.TfdsCityscapesSource)
  assert (source.root, source.split, source.config) == (data_dir, 'train', CONFIG)
  assert repr(source) == repr(direct)
  ids = _check_items(source, expected['train'])
  assert ids == [direct[i]['id'] for i in range(len(direct))]
  evaluation = sources.open_source(config.data, config.data.eval_split)  # 'val' by default.
  assert config.data.eval_split == 'val'
  _check_items(evaluation, expected['val'])


_READ_WITHOUT_TF = '''
import importlib.machinery, json, sys

class NoTensorFlow(importlib.machinery.PathFinder):
  """The path finder, except that TensorFlow is not installed."""
  @classmethod
  def find_spec(cls, name, path=None, target=None):
    if name.split('.')[0] == 'tensorflow':
      return None
    return super().find_spec(name, path, target)

sys.meta_path[:] = [NoTensorFlow if f is importlib.machinery.PathFinder else f
                    for f in sys.meta_path]
try:
  import tensorflow
  raise SystemExit('tensorflow is still importable')
except ImportError:
  pass
from stseg_jax.data import cityscapes
source = cityscapes.TfdsCityscapesSource(sys.argv[1], split='train')
items = [source[i] for i in range(len(source))]
assert not any(m.split('.')[0] == 'tensorflow' for m in sys.modules), 'tensorflow imported'
print(json.dumps([[item['id'], item['image'].tolist(), item['label'].tolist()] for item in items]))
'''


def test_reads_without_tensorflow(prepared):
  """The docstring's promise: reading a prepared build needs tfds and array_record, not TF."""
  data_dir, _ = prepared
  env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''))
  result = subprocess.run([sys.executable, '-c', _READ_WITHOUT_TF, data_dir], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  read = json.loads(result.stdout.strip().splitlines()[-1])
  source = cityscapes.TfdsCityscapesSource(data_dir, split='train')
  assert [r[0] for r in read] == [source[i]['id'] for i in range(len(source))]
  for i, (_, image, label) in enumerate(read):
    np.testing.assert_array_equal(np.array(image, np.uint8), source[i]['image'])
    np.testing.assert_array_equal(np.array(label, np.uint8), source[i]['label'])
