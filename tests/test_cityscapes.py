"""Cityscapes: the label table, the folder source on tiny fixture trees, tfds source errors."""
import json
import os

import numpy as np
import pytest
from PIL import Image

from stseg_jax.data import cityscapes

H, W = 8, 16
CITIES = ('aachen', 'bochum')
# Label id -> train id, typed from the Cityscapes paper's table, not derived from LABELS.
EXPECTED_TRAIN_IDS = [255] * 7 + [0, 1, 255, 255, 2, 3, 4, 255, 255, 255, 5, 255, 6, 7, 8, 9, 10,
                                  11, 12, 13, 14, 15, 255, 255, 16, 17, 18]


def save(path, array):
  """Write a PNG, creating its folder."""
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.fromarray(array).save(path)


def stems():
  """Image stems in source order (cities sorted, then frames)."""
  return [f'{city}_00000{k}_000019' for city in CITIES for k in range(2)]


def gt_path(root, stem, kind, split='train', annotation='gtFine'):
  """gtFine/gtCoarse path of one annotation file."""
  return os.path.join(root, annotation, split, stem.split('_')[0],
                      f'{stem}_{annotation}_{kind}.png')


def image_path(root, stem, split='train'):
  """leftImg8bit path of one image."""
  return os.path.join(root, 'leftImg8bit', split, stem.split('_')[0], f'{stem}_leftImg8bit.png')


def make_root(tmp_path, split='train', annotation='gtFine'):
  """2 cities x 2 images of 8x16: road left, one car instance right, unlabeled top row."""
  root = str(tmp_path / 'cityscapes')
  for n, stem in enumerate(stems()):
    save(image_path(root, stem, split), np.full((H, W, 3), 10 * n, np.uint8))
    label = np.full((H, W), 7, np.uint8)
    label[:, 8:] = 26
    label[0] = 0
    save(gt_path(root, stem, 'labelIds', split, annotation), label)
    instance = label.astype(np.uint16)
    instance[1:, 8:] = 26000 + n
    save(gt_path(root, stem, 'instanceIds', split, annotation), instance)
  return root


def test_label_table():
  assert len(cityscapes.LABELS) == 35 and cityscapes.NUM_CLASSES == 19
  assert cityscapes.ID_TO_TRAIN_ID[:34].tolist() == EXPECTED_TRAIN_IDS
  assert (cityscapes.ID_TO_TRAIN_ID[34:] == 255).all() and not cityscapes.VALID_IDS[34:].any()
  assert cityscapes.ID_TO_TRAIN_ID[cityscapes.TRAIN_ID_TO_ID].tolist() == list(range(19))
  assert [cityscapes.CLASS_NAMES[t] for t in cityscapes.INSTANCE_TRAIN_IDS] == [
      'person', 'rider', 'car', 'truck', 'bus', 'train', 'motorcycle', 'bicycle']
  categories = [cityscapes.CATEGORIES[k] for k in cityscapes.TRAIN_ID_CATEGORY]
  assert categories[:2] == ['flat'] * 2 and categories[10] == 'sky'
  assert categories[11:13] == ['human'] * 2 and categories[13:] == ['vehicle'] * 6


def test_layout_mapping_and_instances(tmp_path):
  root = make_root(tmp_path)
  every_id = np.tile(np.arange(34, dtype=np.uint8), 4)[:H * W // 2].reshape(H // 2, W)
  label = np.concatenate([every_id, np.full((H // 2, W), 33, np.uint8)])
  save(gt_path(root, stems()[3], 'labelIds'), label)
  src = cityscapes.CityscapesSource(root, with_instances=True)
  assert len(src) == 4 and src.num_classes == 19 and src.ignore_label == 255
  assert [src[i]['id'] for i in range(4)] == stems()
  item = src[0]
  assert item['image'].shape == (H, W, 3) and item['image'].dtype == np.uint8
  assert item['label'].dtype == np.uint8 and item['label'].shape == (H, W)
  assert item['label'][0, 0] == 255 and item['label'][1, 0] == 0 and item['label'][1, 8] == 13
  assert item['instance'].dtype == np.int32 and item['instance'][1, 8] == 26000
  assert item['instance'][1, 0] == 7 and src[1]['instance'][5, 15] == 26001
  mapped = src[3]['label']
  assert mapped[:H // 2].ravel().tolist() == [EXPECTED_TRAIN_IDS[v] for v in every_id.ravel()]
  assert 'instance' not in cityscapes.CityscapesSource(root)[0]


def test_coarse_and_images_only(tmp_path):
  root = make_root(tmp_path, split='train_extra', annotation='gtCoarse')
  coarse = cityscapes.CityscapesSource(root, 'train_extra', coarse=True)
  assert len(coarse) == 4 and coarse[2]['label'][1, 8] == 13
  with pytest.raises(FileNotFoundError, match='gtFine'):
    cityscapes.CityscapesSource(root, 'train_extra')
  images = cityscapes.CityscapesSource(root, 'train_extra', labels=False)
  assert set(images[0]) == {'image', 'id'}
  with pytest.raises(ValueError, match='labels=True'):
    cityscapes.CityscapesSource(root, 'train_extra', labels=False, with_instances=True)


def test_subset_and_repr(tmp_path):
  src = cityscapes.CityscapesSource(make_root(tmp_path))
  sub = src.subset([3, 1])
  assert len(sub) == 2 and sub[0]['id'] == src[3]['id']
  assert 'files=' in repr(src) and repr(sub) != repr(src)
  assert repr(src) == repr(cityscapes.CityscapesSource(src.root))


def test_missing_folders_are_named(tmp_path):
  with pytest.raises(FileNotFoundError, match='nowhere'):
    cityscapes.CityscapesSource(str(tmp_path / 'nowhere'))
  root = make_root(tmp_path)
  with pytest.raises(FileNotFoundError, match='leftImg8bit/val'):
    cityscapes.CityscapesSource(root, 'val')
  os.rename(os.path.join(root, 'gtFine'), os.path.join(root, 'moved'))
  with pytest.raises(FileNotFoundError, match='gtFine/train'):
    cityscapes.CityscapesSource(root)


def test_image_without_label_or_instance_is_named(tmp_path):
  root = make_root(tmp_path)
  os.remove(gt_path(root, stems()[2], 'instanceIds'))
  cityscapes.CityscapesSource(root)  # Instances are only required when asked for.
  with pytest.raises(FileNotFoundError, match='bochum_000000_000019_gtFine_instanceIds.png'):
    cityscapes.CityscapesSource(root, with_instances=True)
  os.remove(gt_path(root, stems()[1], 'labelIds'))
  with pytest.raises(FileNotFoundError, match=r'1 image.*aachen_000001_000019_leftImg8bit.png.*'
                                              r'aachen_000001_000019_gtFine_labelIds.png'):
    cityscapes.CityscapesSource(root)


def test_bad_label_values_are_named(tmp_path):
  root = make_root(tmp_path)
  label = np.full((H, W), 7, np.uint8)
  label[2, 3], label[4, 4] = 34, 200
  save(gt_path(root, stems()[1], 'labelIds'), label)
  src = cityscapes.CityscapesSource(root)
  src[0]
  with pytest.raises(ValueError, match=r'aachen_000001_000019_gtFine_labelIds.png.*\[34, 200\]'):
    src[1]


def test_bad_instance_values_are_named(tmp_path):
  root = make_root(tmp_path)
  save(gt_path(root, stems()[0], 'instanceIds'), np.full((H, W), 40001, np.uint16))
  with pytest.raises(ValueError, match=r'aachen_000000_000019_gtFine_instanceIds.png.*40001'):
    cityscapes.CityscapesSource(root, with_instances=True)[0]


def test_size_mismatch_and_corrupt_image_are_named(tmp_path):
  root = make_root(tmp_path)
  save(gt_path(root, stems()[0], 'labelIds'), np.full((H, W - 1), 7, np.uint8))
  with pytest.raises(ValueError, match='aachen_000000_000019_leftImg8bit.png.*labelIds.png'):
    cityscapes.CityscapesSource(root)[0]
  save(gt_path(root, stems()[1], 'instanceIds'), np.full((H - 1, W), 7, np.uint16))
  with pytest.raises(ValueError, match='size mismatch.*aachen_000001_000019_gtFine_instanceIds'):
    cityscapes.CityscapesSource(root, with_instances=True)[1]
  path = image_path(root, stems()[2])
  with open(path, 'wb') as f:
    f.write(b'not a png')
  with pytest.raises(ValueError, match='bochum_000000_000019_leftImg8bit.png'):
    cityscapes.CityscapesSource(root)[2]


def test_tfds_source_not_prepared(tmp_path):
  with pytest.raises(FileNotFoundError, match='tfds data_dir not found'):
    cityscapes.TfdsCityscapesSource(str(tmp_path / 'nowhere'))
  with pytest.raises(FileNotFoundError, match='not prepared.*tfds build cityscapes'):
    cityscapes.TfdsCityscapesSource(str(tmp_path))
  assert os.listdir(tmp_path) == []  # Nothing was created: no build was started.
  version = tmp_path / 'cityscapes' / 'semantic_segmentation' / '1.0.0'
  os.makedirs(version)
  (version / 'dataset_info.json').write_text(json.dumps({'name': 'cityscapes'}))
  with pytest.raises(ValueError, match=r'dataset_info.json.*tfrecord.*array_record'):
    cityscapes.TfdsCityscapesSource(str(tmp_path))


def test_tfds_example_mapping():
  label = np.array([[7, 26], [0, 33]], np.uint8)[..., None]
  example = dict(image_left=np.zeros((2, 2, 3), np.uint8), segmentation_label=label,
                 image_id=b'bonn_000001_000019')
  item = cityscapes.example_to_item(example, 'record 0')
  assert item['label'].tolist() == [[0, 13], [255, 18]] and item['id'] == 'bonn_000001_000019'
  example['segmentation_label'] = label + 30
  with pytest.raises(ValueError, match=r'record 0.*\[37, 56, 63\]'):
    cityscapes.example_to_item(example, 'record 0')
