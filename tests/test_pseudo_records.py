"""Pseudo-label records: schema round trip, shards, manifest, source, and three readers."""
import importlib.util
import multiprocessing
import os
import pickle
import subprocess
import sys

import grain
import numpy as np
import pytest
from PIL import Image

from stseg_jax.data import centroids as centroids_lib
from stseg_jax.data.pseudo import example as pe
from stseg_jax.data.pseudo import manifest as pm
from stseg_jax.data.pseudo import records as pr
from stseg_jax.data.pseudo import tfrecord
import standalone_tfrecord_reader as standalone  # tests/ is on sys.path under pytest

H, W, K, C = 12, 16, 3, 5
CLASSES = ('road', 'car', 'sky', 'tree', 'person')


def _item(i, soft=True):
  """One fake teacher output: label with blobs, confidence, top-k, centroids."""
  rng = np.random.default_rng(i)
  label = np.repeat(np.repeat(rng.integers(0, C, (3, 4)), 4, 0), 4, 1).astype(np.uint8)
  label[0, 0] = 255
  probs = rng.dirichlet(np.ones(C), (H, W)).astype(np.float32)
  order = np.argsort(-probs, -1)[..., :K]
  item = dict(image_id=f'img{i:03d}', path=f'images/img{i:03d}.png', label=label,
              centroids=centroids_lib.region_centroids(label, C), teacher_step=1000 + i)
  if soft:
    item.update(confidence=probs.max(-1),
                topk=(order.astype(np.uint8), np.take_along_axis(probs, order, -1)))
  return item


def _check_decoded(got, item):
  assert got['id'] == item['image_id'] and got['path'] == item['path']
  np.testing.assert_array_equal(got['label'], item['label'])
  assert got['label'].dtype == np.uint8
  assert sorted(got['centroids']) == sorted(item['centroids'])
  for c, pts in item['centroids'].items():
    np.testing.assert_array_equal(got['centroids'][c], pts)


def test_round_trip_hard_and_soft():
  for soft in (False, True):
    item = _item(3, soft)
    got = pe.decode_example(pe.encode_example(**item))
    _check_decoded(got, item)
    assert (got['height'], got['width'], got['teacher_step']) == (H, W, 1003)
    assert ('confidence' in got) == soft and ('topk_probs' in got) == soft
  np.testing.assert_allclose(got['confidence'], item['confidence'], atol=0.5 / 255)
  np.testing.assert_array_equal(got['topk_indices'], item['topk'][0])
  np.testing.assert_allclose(got['topk_probs'], item['topk'][1], rtol=1e-3)


def test_encoding_is_deterministic_and_checked():
  assert pe.encode_example(**_item(1)) == pe.encode_example(**_item(1))
  minimal = pe.decode_example(pe.encode_example('a', 'a.png', np.zeros((2, 3), np.uint8)))
  assert minimal['centroids'] == {} and 'teacher_step' not in minimal
  with pytest.raises(ValueError, match='HxW'):
    pe.encode_example('a', 'a.png', np.zeros((2, 3, 1)))
  with pytest.raises(ValueError, match='outside 0..255'):
    pe.encode_example('a', 'a.png', np.full((2, 3), 300))
  with pytest.raises(ValueError, match='topk'):
    pe.encode_example('a', 'a.png', np.zeros((2, 3)), topk=(np.zeros((2, 3, 2)), np.zeros((2, 3))))
  with pytest.raises(ValueError, match='not a tf.train.Example'):
    pe.decode_example(b'\xff\xff\xff')


def test_shard_names():
  assert pr.shard_name('coarse', 3, 16) == 'coarse-00003-of-00016.tfrecord'
  with pytest.raises(ValueError):
    pr.shard_name('coarse', 16, 16)


def _write_set(directory, items_per_shard=(3, 2), name='coarse', manifest=True):
  """Writes shards (and a manifest); returns the items in source order."""
  items, shards, start = [], [], 0
  for s, count in enumerate(items_per_shard):
    chunk = [_item(start + j) for j in range(count)]
    file = pr.shard_name(name, s, len(items_per_shard))
    assert pr.write_shard(os.path.join(directory, file),
                          (pe.encode_example(**it) for it in chunk)) == count
    items += chunk
    shards.append({'file': file, 'records': count})
    start += count
  if manifest:
    pm.write_manifest(directory, pm.Manifest(name=name, class_names=CLASSES,
                                             teacher={'workdir': 'ckpt/t-1'},
                                             config_hash='abc123', shards=tuple(shards)))
  return items


def test_rerun_skips_complete_and_redoes_partial_shards(tmp_path):
  path = str(tmp_path / pr.shard_name('p', 0, 1))
  with open(path + '.tmp-99999999', 'wb') as f:  # a crashed writer's partial shard
    f.write(tfrecord.frame(pe.encode_example(**_item(0)))[:50])
  assert not pr.shard_is_complete(path)
  with pytest.raises(FileNotFoundError):
    pr.find_shards(str(tmp_path), 'p')  # the temp file is not a shard
  pr.write_shard(path, [pe.encode_example(**_item(0))])
  assert pr.shard_is_complete(path) and pr.shard_is_complete(path, expected_records=1)
  assert not pr.shard_is_complete(path, expected_records=2)
  assert sorted(os.listdir(tmp_path)) == ['p-00000-of-00001.tfrecord',
                                          'p-00000-of-00001.tfrecord.index.npy']
  with open(path, 'r+b') as f:  # damaged after the fact: redo it
    f.truncate(os.path.getsize(path) - 3)
  assert not pr.shard_is_complete(path)


def test_index_cache_is_reused_and_refreshed(tmp_path):
  path = str(tmp_path / 'x-00000-of-00001.tfrecord')
  pr.write_shard(path, [b'a', b'bb'])
  cache = pr.index_cache_path(path)
  np.save(cache, np.array([[0, 1], [17, 11]]))  # newer but wrong: must not be trusted
  np.testing.assert_array_equal(pr.load_index(path), [[0, 1], [17, 2]])
  pr.write_shard(path, [b'ccc'])
  np.testing.assert_array_equal(pr.load_index(path), [[0, 3]])


def test_find_shards_needs_the_complete_set(tmp_path):
  pr.write_shard(str(tmp_path / pr.shard_name('c', 0, 3)), [b'a'])
  pr.write_shard(str(tmp_path / pr.shard_name('c', 2, 3)), [b'a'])
  with pytest.raises(ValueError, match='1 of 3 shards missing.*c-00001-of-00003'):
    pr.find_shards(str(tmp_path), 'c')


def test_manifest_round_trip_and_validation(tmp_path):
  _write_set(str(tmp_path))
  m = pm.read_manifest(str(tmp_path), 'coarse')
  assert m.teacher_workdir == 'ckpt/t-1' and m.shards[1] == {'file': 'coarse-00001-of-00002.tfrecord',
                                                             'records': 2}
  pm.validate_manifest(m, CLASSES, 'ckpt/t-1')
  with pytest.raises(ValueError, match='class_names.*index 4'):
    pm.validate_manifest(m, CLASSES[:4] + ('rider',))
  with pytest.raises(ValueError, match='class_names'):
    pm.validate_manifest(m, CLASSES[:4])
  with pytest.raises(ValueError, match="teacher 'ckpt/t-1'.*'ckpt/t-2'"):
    pm.validate_manifest(m, CLASSES, 'ckpt/t-2')
  with pytest.raises(ValueError, match='lacks keys'):
    pm.Manifest.from_dict({'name': 'x', 'format_version': 2})
  # Version 1 files, with a bare teacher workdir, still read.
  old = pm.Manifest.from_dict({'name': 'x', 'class_names': ['a'], 'teacher': 't', 'shards': [],
                               'format_version': 1})
  assert old.teacher == {'workdir': 't'} and old.soft_topk == 0
  with pytest.raises(ValueError, match='format_version 7'):
    pm.Manifest.from_dict({'format_version': 7})
  with pytest.raises(FileNotFoundError, match='no pseudo-label manifest'):
    pm.read_manifest(str(tmp_path), 'fine')


def test_source_over_two_shards(tmp_path):
  items = _write_set(str(tmp_path))
  src = pr.PseudoLabelSource(str(tmp_path), 'coarse')
  assert len(src) == 5 and src.class_names == CLASSES and src.num_classes == C
  for i in (0, 2, 3, 4, -1):
    _check_decoded(src[i], items[i])
  with pytest.raises(IndexError):
    src[5]
  clone = pickle.loads(pickle.dumps(src))
  _check_decoded(clone[3], items[3])
  assert repr(clone) == repr(src)
  ds = grain.MapDataset.source(src).map(lambda e: e['label'].sum())
  assert list(ds) == [int(it['label'].sum()) for it in items]
  src.close()


def test_source_centroid_index_needs_no_labels(tmp_path):
  items = _write_set(str(tmp_path))
  index = pr.PseudoLabelSource(str(tmp_path), 'coarse').centroid_index()
  want = centroids_lib.CentroidIndex.from_images([it['centroids'] for it in items], C)
  for field in ('image_ids', 'class_ids', 'centroids'):
    np.testing.assert_array_equal(getattr(index, field), getattr(want, field))
  assert (index.num_images, index.num_classes) == (5, C)


def test_source_loads_images_and_checks_counts(tmp_path):
  items = _write_set(str(tmp_path), manifest=False)
  os.makedirs(tmp_path / 'images')
  for it in items:
    Image.fromarray(np.full((H, W, 3), 7, np.uint8)).save(tmp_path / it['path'])
  src = pr.PseudoLabelSource(str(tmp_path), 'coarse', load_images=True, image_root=str(tmp_path))
  assert src[1]['image'].shape == (H, W, 3) and src.class_names is None
  with pytest.raises(ValueError, match='num_classes'):
    src.centroid_index()
  shards = [{'file': pr.shard_name('coarse', s, 2), 'records': n} for s, n in ((0, 4), (1, 2))]
  pm.write_manifest(str(tmp_path), pm.Manifest(name='coarse', class_names=CLASSES,
                                               teacher={'workdir': 't'}, shards=tuple(shards)))
  with pytest.raises(ValueError, match='00000-of-00002.tfrecord: 3 records, the manifest says 4'):
    pr.PseudoLabelSource(str(tmp_path), 'coarse')


def test_standalone_reader_reads_project_shards(tmp_path):
  items = _write_set(str(tmp_path))
  got = [standalone.parse_example(r) for s in pr.find_shards(str(tmp_path), 'coarse')
         for r in standalone.read_tfrecord(s)]
  assert len(got) == len(items)
  for feats, it in zip(got, items):
    assert set(feats) <= set(pe.FEATURES) and set(pe.FEATURES) - set(feats) <= pe.OPTIONAL
    assert feats['image/id'] == [it['image_id'].encode()]
    assert (feats['image/height'], feats['image/width']) == ([H], [W])
    assert feats['label/png'] == [pe.png_encode(it['label'])]
    assert feats['teacher/step'] == [it['teacher_step']] and feats['topk/k'] == [K]
    classes, yx, _ = pe._centroid_lists(it['centroids'])  # pylint: disable=protected-access
    assert feats['centroids/class'] == classes
    np.testing.assert_array_equal(np.float32(feats['centroids/yx']), np.float32(yx))


def test_tf_data_reads_shards_with_documented_spec(tmp_path):
  if importlib.util.find_spec('tensorflow') is None:  # found, not imported: see below
    pytest.skip('tensorflow is not installed')
  # In a fresh interpreter: TensorFlow in the test process would stay loaded,
  # and torchvision imported after it (another test, same process) segfaults.
  child = multiprocessing.get_context('spawn').Process(target=_read_with_tf, args=(tmp_path,))
  child.start()
  child.join()
  assert child.exitcode == 0, 'the tf.data check failed: its traceback is above'


def _read_with_tf(tmp_path):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top  # only in this child process
  items = _write_set(str(tmp_path))
  path = str(tmp_path / pr.shard_name('plain', 0, 1))
  pr.write_shard(path, [pe.encode_example(**_item(9, soft=False))])
  files = pr.find_shards(str(tmp_path), 'coarse') + [path]
  spec = pe.tf_feature_spec(tf)
  got = [tf.io.parse_single_example(x, spec) for x in tf.data.TFRecordDataset(files)]
  assert len(got) == 6
  for ex, it in zip(got, items + [_item(9, soft=False)]):
    h, w = int(ex['image/height']), int(ex['image/width'])
    assert ex['image/id'].numpy().decode() == it['image_id'] and (h, w) == (H, W)
    np.testing.assert_array_equal(tf.io.decode_png(ex['label/png'])[..., 0], it['label'])
    classes, yx, _ = pe._centroid_lists(it['centroids'])  # pylint: disable=protected-access
    assert ex['centroids/class'].numpy().tolist() == classes
    np.testing.assert_array_equal(ex['centroids/yx'].numpy(), np.float32(yx))
    assert int(ex['teacher/step']) == it['teacher_step']
  soft, hard = got[0], got[-1]
  k = int(soft['topk/k'])
  probs = tf.reshape(tf.io.decode_raw(tf.io.decode_compressed(soft['topk/probs'], 'ZLIB'),
                                      tf.float16), [H, W, k])
  np.testing.assert_allclose(probs.numpy(), items[0]['topk'][1], rtol=1e-3)
  indices = tf.reshape(tf.io.decode_raw(tf.io.decode_compressed(soft['topk/indices'], 'ZLIB'),
                                        tf.uint8), [H, W, k])
  np.testing.assert_array_equal(indices.numpy(), items[0]['topk'][0])
  conf = tf.io.decode_png(soft['confidence/png'])[..., 0].numpy() / 255
  np.testing.assert_allclose(conf, items[0]['confidence'], atol=0.5 / 255 + 1e-6)
  assert int(hard['topk/k']) == -1 and hard['confidence/png'].numpy() == b''
  # TensorFlow checks the same CRCs: a flipped payload byte is data loss to it too.
  with open(path, 'r+b') as f:
    f.seek(40)
    byte = f.read(1)[0]
    f.seek(40)
    f.write(bytes([byte ^ 1]))
  try:
    list(tf.data.TFRecordDataset([path]))
    raise AssertionError('tf.data read a flipped payload byte')
  except tf.errors.DataLossError:
    pass


def test_manifest_teacher_reached_through_a_link_is_the_same(tmp_path):
  """stseg_jax.ablation links each variant's teacher/ to the seed's one."""
  (tmp_path / 'run' / 'teacher').mkdir(parents=True)
  (tmp_path / 'variant').mkdir()
  os.symlink(tmp_path / 'run' / 'teacher', tmp_path / 'variant' / 'teacher')
  m = pm.Manifest(name='p', class_names=CLASSES, shards=(),
                  teacher={'workdir': str(tmp_path / 'run' / 'teacher'), 'step': 3})
  pm.validate_manifest(m, CLASSES, str(tmp_path / 'variant' / 'teacher'))
  with pytest.raises(ValueError, match='is not the configured'):
    pm.validate_manifest(m, CLASSES, str(tmp_path / 'variant'))


def test_a_source_left_open_at_exit_closes_without_a_traceback(tmp_path):
  _write_set(str(tmp_path))
  script = ('from stseg_jax.data.pseudo import records\n'
            f'KEEP = records.PseudoLabelSource({str(tmp_path)!r}, "coarse")\n'
            'KEEP[0]\n')  # an open shard, collected only at interpreter exit
  done = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  assert done.returncode == 0 and 'Traceback' not in done.stderr, done.stderr[-2000:]
