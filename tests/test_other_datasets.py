"""KITTI, Mapillary Vistas and BDD100K sources on tiny fixture trees: layouts, mappings, errors."""
import json
import os

import numpy as np
import pytest
from PIL import Image

from stseg_jax.data import bdd100k
from stseg_jax.data import kitti
from stseg_jax.data import mapillary

H, W = 8, 16


def save(path, array, palette=False):
  """Write an image (PNG or JPEG by extension), creating its folder; palette=True: a 'P' PNG."""
  os.makedirs(os.path.dirname(path), exist_ok=True)
  if palette:  # Mapillary labels: palette indices are the label ids.
    im = Image.frombytes('P', array.shape[::-1], np.ascontiguousarray(array, np.uint8).tobytes())
    im.putpalette([v for i in range(256) for v in (i, 255 - i, 0)])
    im.save(path)
  else:
    Image.fromarray(array).save(path)


def rgb(n, size=(H, W)):
  """A flat grey image."""
  return np.full(size + (3,), 30 * n, np.uint8)


# KITTI.

def make_kitti(tmp_path, n=6):
  """n training pairs of two different sizes, Cityscapes label ids, plus 2 test images."""
  root = str(tmp_path / 'kitti')
  for i in range(n):
    size = (H, W) if i % 2 else (H - 1, W + 2)  # KITTI sizes vary from image to image.
    label = np.full(size, 7, np.uint8)
    label[:, :3] = 26
    label[0, 0] = 0
    save(f'{root}/training/image_2/{i:06d}_10.png', rgb(i, size))
    save(f'{root}/training/semantic/{i:06d}_10.png', label)
  for i in range(2):
    save(f'{root}/testing/image_2/{i:06d}_10.png', rgb(i))
  return root


def test_kitti_splits_sizes_and_mapping(tmp_path):
  root = make_kitti(tmp_path)
  every = kitti.KittiSource(root, 'all')
  train, val = kitti.KittiSource(root, 'train'), kitti.KittiSource(root, 'val')
  assert (len(every), len(train), len(val)) == (6, 5, 1)
  assert val[0]['id'] == '000004_10' and '000004_10' not in [train[i]['id'] for i in range(5)]
  assert every[0]['image'].shape == (H - 1, W + 2, 3) and every[1]['label'].shape == (H, W)
  label = every[0]['label']
  assert label[0, 0] == 255 and label[1, 0] == 13 and label[1, 5] == 0
  test = kitti.KittiSource(root, 'test')
  assert len(test) == 2 and 'label' not in test[0]
  assert kitti.split_indices(200, 'val') == list(range(4, 200, 5))
  assert len(kitti.split_indices(200, 'train')) == 160


def test_kitti_errors_name_the_file(tmp_path):
  with pytest.raises(ValueError, match='testing'):
    kitti.KittiSource(str(tmp_path), 'testing')
  with pytest.raises(FileNotFoundError, match='KITTI root not found'):
    kitti.KittiSource(str(tmp_path / 'nowhere'))
  root = make_kitti(tmp_path)
  os.remove(f'{root}/training/semantic/000002_10.png')
  with pytest.raises(FileNotFoundError, match='image_2/000002_10.png has no label'):
    kitti.KittiSource(root, 'all')
  save(f'{root}/training/semantic/000002_10.png', np.full((H - 1, W + 2), 34, np.uint8))
  with pytest.raises(ValueError, match=r'semantic/000002_10.png.*\[34\]'):
    kitti.KittiSource(root, 'all')[2]
  save(f'{root}/training/semantic/000002_10.png', np.full((H, W), 7, np.uint8))
  with pytest.raises(ValueError, match='image_2/000002_10.png.*semantic/000002_10.png'):
    kitti.KittiSource(root, 'all')[2]
  os.rename(f'{root}/training/semantic', f'{root}/training/moved')
  with pytest.raises(FileNotFoundError, match='training/semantic'):
    kitti.KittiSource(root)


# Mapillary Vistas.

# Id 2 is not evaluated (mid-table, to test renumbering) and 4 is 'Unlabeled', as in v1.2.
CONFIG_LABELS = [('animal--bird', 'Bird', [165, 42, 42], True),
                 ('construction--flat--road', 'Road', [128, 64, 128], True),
                 ('object--vehicle--car-mount', 'Car Mount', [32, 32, 32], False),
                 ('object--vehicle--car', 'Car', [0, 0, 142], True),
                 ('void--unlabeled', 'Unlabeled', [0, 0, 0], False)]


def make_mapillary(tmp_path, v20=False, split='training'):
  """2 images with labels 0..4 in the v1.2 (or v2.0 zip) layout."""
  root = str(tmp_path / 'mapillary')
  os.makedirs(root)
  labels = [dict(name=n, readable=r, color=c, evaluate=e, instances=False)
            for n, r, c, e in CONFIG_LABELS]
  with open(os.path.join(root, 'config_v1.2.json' if v20 else 'config.json'), 'w') as f:
    json.dump(dict(labels=labels, version='1.2'), f)
  label_dir = os.path.join(root, split, 'v1.2' if v20 else '', 'labels')
  for n, name in enumerate(('a1', 'b2')):
    save(os.path.join(root, split, 'images', f'{name}.jpg'), rgb(n))
    label = np.arange(H * W, dtype=np.uint8).reshape(H, W) % 5
    save(os.path.join(label_dir, f'{name}.png'), label, palette=True)
  return root


@pytest.mark.parametrize('v20', [False, True])
def test_mapillary_config_layout_and_mapping(tmp_path, v20):
  src = mapillary.MapillarySource(make_mapillary(tmp_path, v20), 'train')
  assert src.split == 'training' and len(src) == 2 and src[1]['id'] == 'b2'
  assert src.class_names == ('Bird', 'Road', 'Car') and src.num_classes == 3
  assert src.palette.tolist() == [[165, 42, 42], [128, 64, 128], [0, 0, 142]]
  item = src[0]
  assert item['image'].shape == (H, W, 3) and item['label'].dtype == np.uint8
  assert item['label'][0, :6].tolist() == [0, 1, 255, 2, 255, 0]


def test_mapillary_images_only(tmp_path):
  root = make_mapillary(tmp_path, split='testing')
  for sub in os.listdir(os.path.join(root, 'testing')):
    if sub != 'images':
      os.rename(os.path.join(root, 'testing', sub), os.path.join(root, 'moved'))
  with pytest.raises(FileNotFoundError, match='labels=False'):
    mapillary.MapillarySource(root, 'test')
  assert set(mapillary.MapillarySource(root, 'test', labels=False)[0]) == {'image', 'id'}


def test_mapillary_config_errors_name_the_file(tmp_path):
  root = make_mapillary(tmp_path)
  config = os.path.join(root, 'config.json')
  with open(config) as f:
    data = json.load(f)
  del data['labels'][3]['evaluate']
  with open(config, 'w') as f:
    json.dump(data, f)
  with pytest.raises(ValueError, match=r"config.json: labels\[3\] lacks \['evaluate'\]"):
    mapillary.MapillarySource(root)
  with open(config, 'w') as f:
    f.write('{"labels": [')
  with pytest.raises(ValueError, match='config.json: not a Mapillary config'):
    mapillary.MapillarySource(root)
  os.remove(config)
  with pytest.raises(FileNotFoundError, match='config.json'):
    mapillary.MapillarySource(root)


def test_mapillary_file_errors_name_the_file(tmp_path):
  root = make_mapillary(tmp_path)
  with pytest.raises(FileNotFoundError, match='validation/images'):
    mapillary.MapillarySource(root, 'val')
  label = os.path.join(root, 'training', 'labels', 'b2.png')
  save(label, np.full((H, W), 5, np.uint8), palette=True)
  with pytest.raises(ValueError, match=r'labels/b2.png.*\[5\].*0\.\.4'):
    mapillary.MapillarySource(root)[1]
  save(label, np.zeros((H + 1, W), np.uint8), palette=True)
  with pytest.raises(ValueError, match='images/b2.jpg.*labels/b2.png'):
    mapillary.MapillarySource(root)[1]
  with open(os.path.join(root, 'training', 'images', 'a1.jpg'), 'wb') as f:
    f.write(b'\xff\xd8\xff\xe0 truncated jpeg')
  with pytest.raises(ValueError, match='images/a1.jpg'):
    mapillary.MapillarySource(root)[0]
  os.remove(label)
  with pytest.raises(FileNotFoundError, match='images/b2.jpg has no label .*labels/b2.png'):
    mapillary.MapillarySource(root)


# BDD100K.

def make_bdd(tmp_path, layout='current', split='train', own_images=True):
  """2 image/mask pairs in the current or older BDD100K layout."""
  root = str(tmp_path / 'bdd100k')
  if layout == 'current':
    image_dir, label_dir, suffix = f'images/10k/{split}', f'labels/sem_seg/masks/{split}', '.png'
  else:
    image_dir = f'seg/images/{split}' if own_images else f'images/10k/{split}'
    label_dir, suffix = f'seg/labels/{split}', '_train_id.png'
  for n, name in enumerate(('0a0a0b1a-7c39d841', '0a0c3694-4cc8b0e3')):
    save(f'{root}/{image_dir}/{name}.jpg', rgb(n))
    label = np.full((H, W), 13, np.uint8)
    label[0, :3] = (0, 18, 255)
    save(f'{root}/{label_dir}/{name}{suffix}', label)
  return root


@pytest.mark.parametrize('layout,own_images', [('current', True), ('older', True),
                                               ('older', False)])
def test_bdd_layouts_and_mapping(tmp_path, layout, own_images):
  src = bdd100k.BDD100KSource(make_bdd(tmp_path, layout, own_images=own_images))
  assert src.layout == layout and len(src) == 2 and src.num_classes == 19
  item = src[1]
  assert item['id'] == '0a0c3694-4cc8b0e3' and item['image'].shape == (H, W, 3)
  assert item['label'][0, :4].tolist() == [0, 18, 255, 13]


def test_bdd_errors_name_the_file(tmp_path):
  root = make_bdd(tmp_path)
  with pytest.raises(FileNotFoundError, match='masks/val.*seg/labels/val'):
    bdd100k.BDD100KSource(root, 'val')
  label = f'{root}/labels/sem_seg/masks/train/0a0c3694-4cc8b0e3.png'
  save(label, np.full((H, W), 19, np.uint8))
  with pytest.raises(ValueError, match=r'0a0c3694-4cc8b0e3.png.*\[19\].*0\.\.18, 255'):
    bdd100k.BDD100KSource(root)[1]
  save(label, np.zeros((H, W + 1), np.uint8))
  with pytest.raises(ValueError, match='size mismatch.*0a0c3694-4cc8b0e3.jpg'):
    bdd100k.BDD100KSource(root)[1]
  os.remove(label)
  with pytest.raises(FileNotFoundError, match='0a0c3694-4cc8b0e3.jpg has no label'):
    bdd100k.BDD100KSource(root)


def test_bdd_test_images_only(tmp_path):
  root = str(tmp_path / 'bdd100k')
  save(f'{root}/images/10k/test/cabc30fc-e7726578.jpg', rgb(1))
  with pytest.raises(FileNotFoundError, match='labels=False'):
    bdd100k.BDD100KSource(root, 'test')
  src = bdd100k.BDD100KSource(root, 'test', labels=False)
  assert len(src) == 1 and 'label' not in src[0] and 'files=' in repr(src)


def test_kitti_eval_batches_pad_mixed_sizes_with_the_ignore_label(tmp_path):
  """Whole-image evaluation stacks images of different sizes: padded, never counted."""
  from stseg_jax.data import pipeline  # pylint: disable=g-import-not-at-top
  every = kitti.KittiSource(make_kitti(tmp_path), 'all')
  [batch] = list(pipeline.eval_batches(every, batch_size=8))
  assert batch['image'].shape == (8, H, W + 2, 3) and batch['label'].shape == (8, H, W + 2)
  for row in range(6):
    item = every[row]
    h, w = item['label'].shape
    np.testing.assert_array_equal(batch['label'][row, :h, :w], item['label'])
    np.testing.assert_array_equal(batch['image'][row, :h, :w], item['image'])
    assert (batch['label'][row, h:] == 255).all() and (batch['label'][row, :, w:] == 255).all()
  assert (batch['label'][6:] == 255).all()  # the batch's padding rows
