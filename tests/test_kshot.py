"""k-shot splits: hand-worked presence tables, and the split opened by name."""
import pickle

import numpy as np
import pytest

from configs import default
from stseg_jax.data import kshot
from stseg_jax.data import sources


def test_every_class_gets_k_images_rarest_first():
  # 6 images x 3 classes. Class 2 is in images 4 and 5 only; class 1 in 2..5; class 0 everywhere.
  presence = np.array([[1, 0, 0], [1, 0, 0], [1, 1, 0], [1, 1, 0], [1, 1, 1], [1, 1, 1]], bool)
  for seed in range(5):
    chosen = kshot.kshot_indices(presence, k=1, seed=seed)
    # Class 2 (rarest) picks image 4 or 5, which already holds classes 0 and 1: one image.
    assert len(chosen) == 1 and chosen[0] in (4, 5)
    chosen = kshot.kshot_indices(presence, k=2, seed=seed)
    assert chosen.tolist() == [4, 5]  # both of class 2's images cover every class twice
    chosen = kshot.kshot_indices(presence, k=3, seed=seed)
    counts = presence[chosen].sum(0)
    assert counts[2] == 2 and counts[1] >= 3 and counts[0] >= 3 and len(chosen) == 3
  assert kshot.kshot_indices(presence, 3, seed=1).tolist() == \
      kshot.kshot_indices(presence, 3, seed=1).tolist()  # deterministic


def test_absent_class_is_skipped():
  presence = np.array([[1, 0], [1, 0]], bool)
  assert kshot.kshot_indices(presence, 1, seed=0).size == 1


def test_open_source_kshot_split_on_synthetic_scenes():
  config = default.get_config()
  config.data.height, config.data.width, config.data.num_train = 64, 128, 12
  config.data.cache_dir, config.data.kshot, config.data.kshot_min_pixels = '', 1, 1
  full = sources.open_source(config.data, 'train')
  few = sources.open_source(config.data, 'train_kshot')
  presence = kshot.class_presence(full, 1)
  assert 0 < len(few) < len(full)
  assert np.all(presence[few.indices].any(0) == presence.any(0))  # every class still there
  assert few.class_names == full.class_names and few.num_classes == full.num_classes
  np.testing.assert_array_equal(few[0]['label'], full[int(few.indices[0])]['label'])
  assert repr(few) != repr(full)
  assert len(pickle.loads(pickle.dumps(few))) == len(few)  # crosses into grain workers
  config.data.kshot = 0
  with pytest.raises(ValueError, match='config.data.kshot'):
    sources.open_source(config.data, 'train_kshot')
