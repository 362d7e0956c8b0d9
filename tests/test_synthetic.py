"""Synthetic scenes: determinism, splits, resolution independence, class mix and domains."""
import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest

from stseg_jax import visualize
from stseg_jax.data import synthetic
from stseg_jax.data.palette import PALETTE


def test_render_is_deterministic_and_well_formed():
  image, label = synthetic.render_scene(7)
  again_image, again_label = synthetic.render_scene(7)
  assert image.shape == (256, 512, 3) and image.dtype == np.uint8
  assert label.shape == (256, 512) and label.dtype == np.uint8
  assert image.tobytes() == again_image.tobytes() and label.tobytes() == again_label.tobytes()
  values = set(np.unique(label).tolist())
  assert values <= set(range(19)) | {synthetic.IGNORE_LABEL}
  assert np.mean(label == synthetic.IGNORE_LABEL) < 0.08  # only the ego vehicle's bonnet


def test_same_scene_in_another_process():
  code = ('import hashlib; from stseg_jax.data import synthetic; '
          'item = synthetic.SyntheticSource("unlabeled", 5, 64, 128, domain="B")[4]; '
          'print(hashlib.sha1(item["image"].tobytes() + item["label"].tobytes()).hexdigest())')
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  out = subprocess.run([sys.executable, '-c', code], cwd=root, capture_output=True, text=True,
                       check=True).stdout.strip()
  item = synthetic.SyntheticSource('unlabeled', 5, 64, 128, domain='B')[4]
  assert out == hashlib.sha1(item['image'].tobytes() + item['label'].tobytes()).hexdigest()


def test_different_seeds_give_different_scenes():
  a, b = synthetic.render_scene(1), synthetic.render_scene(2)
  assert np.mean(a[1] != b[1]) > 0.1
  assert np.abs(a[0].astype(int) - b[0].astype(int)).mean() > 10


def test_odd_sizes_render():
  image, label = synthetic.render_scene(3, height=97, width=131)
  assert image.shape == (97, 131, 3) and label.shape == (97, 131)


def test_layout_does_not_depend_on_resolution():
  agree = []
  for seed in range(4):
    _, small = synthetic.render_scene(seed, 128, 256)
    _, large = synthetic.render_scene(seed, 256, 512)
    agree.append(np.mean(large[::2, ::2] == small))
  assert min(agree) > 0.95, agree


def test_splits_are_disjoint_and_sources_deterministic():
  seeds = {split: {synthetic.scene_seed(split, i) for i in range(1000)}
           for split in ('train', 'val', 'unlabeled', 'test')}
  names = list(seeds)
  for i, a in enumerate(names):
    for b in names[i + 1:]:
      assert not seeds[a] & seeds[b], (a, b)
  assert synthetic.scene_seed('train', 0, seed=1) not in seeds['train'] | seeds['val']
  train = synthetic.SyntheticSource('train', 3, 64, 128)
  val = synthetic.SyntheticSource('val', 3, 64, 128)
  assert not np.array_equal(train[0]['label'], val[0]['label'])
  item = train[2]
  assert item['id'] != val[2]['id'] and item['id'] == train[-1]['id']
  again = synthetic.SyntheticSource('train', 3, 64, 128)[2]
  np.testing.assert_array_equal(item['image'], again['image'])


def test_source_api():
  src = synthetic.SyntheticSource('val', height=64, width=128)
  assert len(src) == 100 and src.num_classes == 19 and src.ignore_label == 255
  assert src.class_names == synthetic.CITYSCAPES_CLASSES == synthetic.class_names()
  assert 'val' in repr(src)
  with pytest.raises(IndexError):
    src[100]
  with pytest.raises(ValueError, match='validation'):
    synthetic.SyntheticSource('validation')
  with pytest.raises(ValueError, match="'C'"):
    synthetic.SyntheticSource('train', domain='C')
  extra = synthetic.SyntheticSource('train', 2, 64, 128, domain='B', extra_classes=True)
  assert extra.num_classes == 21 and extra.class_names[19:] == ('lane marking', 'crosswalk')


def test_class_mix_over_val_scenes():
  counts = np.zeros(256, np.int64)
  src = synthetic.SyntheticSource('val', 50, 128, 256)
  for i in range(len(src)):
    counts += np.bincount(src[i]['label'].ravel(), minlength=256)
  share = counts[:19] / counts.sum()
  assert np.sum(share > 0) >= 12, share
  assert share.max() < 0.6, share
  for cls in ('road', 'sidewalk', 'building', 'vegetation', 'sky', 'car', 'person', 'pole'):
    assert share[synthetic.CITYSCAPES_CLASSES.index(cls)] > 0.002, cls


def test_domain_b_looks_different_and_extra_classes_are_opt_in():
  warmth = {}  # red minus blue: B's dusk, sun and brick against A's grey daylight
  for domain in ('A', 'B'):
    images = [synthetic.render_scene(s, 64, 128, domain)[0].astype(float) for s in range(12)]
    warmth[domain] = np.mean([im[..., 0].mean() - im[..., 2].mean() for im in images])
  assert warmth['B'] - warmth['A'] > 8, warmth
  plain = [synthetic.render_scene(s, 128, 256, 'B')[1] for s in range(6)]
  extra = [synthetic.render_scene(s, 128, 256, 'B', extra_classes=True)[1] for s in range(6)]
  assert max(int(l.max(initial=0, where=l != 255)) for l in plain) <= 18
  assert any((l == 19).any() for l in extra) and any((l == 20).any() for l in extra)
  # The extra ids only relabel road pixels; everything else is the same scene.
  for p, e in zip(plain, extra):
    moved = p != e
    assert (p[moved] == 0).all() and np.isin(e[moved], (19, 20)).all()


def test_palette_and_colorize():
  assert PALETTE.shape == (19, 3) and PALETTE.dtype == np.uint8
  label = np.array([[0, 10, 255]], np.uint8)
  rgb = visualize.colorize(label, visualize.palette_of(synthetic.SyntheticSource('val', 1)))
  assert rgb.shape == (1, 3, 3)
  np.testing.assert_array_equal(rgb[0, 0], (128, 64, 128))
  np.testing.assert_array_equal(rgb[0, 2], (0, 0, 0))


def test_render_cache_returns_identical_arrays(tmp_path):
  plain = synthetic.SyntheticSource('val', 2, 32, 64)
  cached = synthetic.SyntheticSource('val', 2, 32, 64, cache_dir=str(tmp_path))
  first, second = cached[1], cached[1]  # render + store, then load
  assert len(list(tmp_path.rglob('*.npy'))) == 1
  for item in (first, second):
    np.testing.assert_array_equal(item['image'], plain[1]['image'])
    np.testing.assert_array_equal(item['label'], plain[1]['label'])
