"""Connected components and centroids against hand-worked maps and a BFS flood fill."""
import collections
import os
import signal
import threading
import time

import numpy as np
import pytest

from stseg_jax.data import centroids


def bfs_components(mask, connectivity):
  """Reference: flood fill from each unlabelled pixel in raster order."""
  steps = [(-1, 0), (1, 0), (0, -1), (0, 1)]
  if connectivity == 8:
    steps += [(-1, -1), (-1, 1), (1, -1), (1, 1)]
  labels = np.zeros(mask.shape, np.int32)
  count = 0
  for start in zip(*np.nonzero(mask)):
    if labels[start]:
      continue
    count += 1
    labels[start] = count
    queue = collections.deque([start])
    while queue:
      y, x = queue.popleft()
      for dy, dx in steps:
        q = (y + dy, x + dx)
        if 0 <= q[0] < mask.shape[0] and 0 <= q[1] < mask.shape[1] and mask[q] and not labels[q]:
          labels[q] = count
          queue.append(q)
  return labels, count


def brute_centroids(label, num_classes, connectivity=8):
  """Reference: per class, BFS regions and np.argwhere means."""
  out = {}
  for c in range(num_classes):
    regions, count = bfs_components(label == c, connectivity)
    if count:
      out[c] = np.array([np.argwhere(regions == k).mean(0) for k in range(1, count + 1)])
  return out


def test_two_blobs_give_two_centroids_and_background_one():
  label = np.zeros((20, 30), np.uint8)
  label[2:5, 3:8] = 2    # 15 px, centroid (3, 5).
  label[10:14, 20:26] = 2  # 24 px, centroid (11.5, 22.5).
  found = centroids.region_centroids(label, num_classes=3)
  assert sorted(found) == [0, 2]
  np.testing.assert_allclose(found[2], [[3, 5], [11.5, 22.5]])
  # Background: the whole map's sums minus the blobs'.
  bg = [(600 * 9.5 - 15 * 3 - 24 * 11.5) / 561, (600 * 14.5 - 15 * 5 - 24 * 22.5) / 561]
  np.testing.assert_allclose(found[0], [bg], rtol=1e-6)
  assert found[2].dtype == np.float32


def test_l_shape_centroid():
  label = np.full((6, 6), 255, np.uint8)
  label[0:4, 0] = 1
  label[3, 1:4] = 1
  found = centroids.region_centroids(label, num_classes=2)
  assert list(found) == [1]  # Ignore pixels form no region.
  np.testing.assert_allclose(found[1], [[15 / 7, 6 / 7]], rtol=1e-6)


def test_diagonal_neighbours_join_only_with_8_connectivity():
  mask = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 0]], bool)
  labels8, n8 = centroids.connected_components(mask)
  labels4, n4 = centroids.connected_components(mask, connectivity=4)
  assert (n8, n4) == (1, 2)
  np.testing.assert_array_equal(labels4, [[1, 0, 0], [0, 2, 0], [0, 0, 0]])
  np.testing.assert_allclose(centroids.region_centroids(mask.astype(np.uint8), 2)[1],
                             [[0.5, 0.5]])
  np.testing.assert_allclose(centroids.region_centroids(mask.astype(np.uint8), 2,
                                                        connectivity=4)[1], [[0, 0], [1, 1]])


@pytest.mark.parametrize('connectivity', [4, 8])
@pytest.mark.parametrize('shape,density', [((40, 50), 0.3), ((40, 50), 0.55), ((1, 70), 0.5),
                                           ((70, 1), 0.5), ((33, 17), 0.7), ((5, 5), 0.0)])
def test_components_match_bfs(shape, density, connectivity):
  rng = np.random.default_rng(int(density * 100) + shape[0])
  for _ in range(3):
    mask = rng.random(shape) < density
    labels, count = centroids.connected_components(mask, connectivity)
    expected, expected_count = bfs_components(mask, connectivity)
    assert count == expected_count
    np.testing.assert_array_equal(labels, expected)


def test_components_of_long_snake_and_comb():
  snake = np.zeros((41, 30), bool)
  snake[::2] = True
  snake[1::4, -1] = True
  snake[3::4, 0] = True
  labels, count = centroids.connected_components(snake, 4)
  assert count == 1 and np.all(labels[snake] == 1)
  comb = np.zeros((30, 41), bool)
  comb[:, ::2] = True
  comb[-1] = True
  assert centroids.connected_components(comb, 4)[1] == 1


@pytest.mark.parametrize('connectivity', [4, 8])
def test_region_centroids_match_brute_force(connectivity):
  rng = np.random.default_rng(connectivity)
  # Coarse blobs plus noise, with ignore pixels.
  label = np.repeat(np.repeat(rng.integers(0, 5, (8, 10)), 4, 0), 4, 1).astype(np.uint8)
  noise = rng.random(label.shape) < 0.1
  label[noise] = rng.integers(0, 5, noise.sum())
  label[rng.random(label.shape) < 0.05] = 255
  found = centroids.region_centroids(label, 5, connectivity=connectivity)
  expected = brute_centroids(label, 5, connectivity)
  assert sorted(found) == sorted(expected)
  for c in expected:
    np.testing.assert_allclose(found[c], expected[c], rtol=1e-5)


def test_downsample_and_min_pixels():
  label = np.zeros((40, 40), np.uint8)
  label[8:16, 16:24] = 1  # 64 px; full-resolution centroid (11.5, 19.5).
  np.testing.assert_allclose(centroids.region_centroids(label, 2)[1], [[11.5, 19.5]])
  # Every 4th pixel: rows 8, 12 and columns 16, 20 are sampled, 4 samples = 64 px.
  coarse = centroids.region_centroids(label, 2, downsample=4)
  np.testing.assert_allclose(coarse[1], [[10, 18]])
  assert 1 in centroids.region_centroids(label, 2, downsample=4, min_pixels=64)
  assert 1 not in centroids.region_centroids(label, 2, downsample=4, min_pixels=65)


def test_out_of_range_label_raises():
  with pytest.raises(ValueError, match='outside'):
    centroids.region_centroids(np.array([[0, 7]], np.uint8), num_classes=5)


def _source(n=6):
  rng = np.random.default_rng(0)
  return [dict(label=np.repeat(np.repeat(rng.integers(0, 4, (3, 4)), 8, 0), 8, 1)
               .astype(np.uint8)) for _ in range(n)]


def test_build_index_flat_arrays_and_cache(tmp_path, monkeypatch):
  source = _source()
  key = centroids.source_fingerprint(source)
  index = centroids.build_index(source, 4, 255, str(tmp_path), key, num_workers=0)
  expected = [centroids.region_centroids(item['label'], 4) for item in source]
  assert len(index) == sum(len(v) for e in expected for v in e.values())
  assert index.num_images == 6
  for c in index.classes_present:
    rows = index.by_class[int(c)]
    assert np.all(index.class_ids[rows] == c)
    got = sorted(map(tuple, np.c_[index.image_ids[rows], index.centroids[rows]].tolist()))
    want = sorted((i, *p) for i, e in enumerate(expected)
                  for p in e.get(int(c), np.zeros((0, 2))).tolist())
    assert got == want
  # Second call loads the .npz instead of recomputing.
  monkeypatch.setattr(centroids, 'region_centroids', lambda *a, **k: 1 / 0)
  again = centroids.build_index(source, 4, 255, str(tmp_path), key, num_workers=0)
  np.testing.assert_array_equal(again.centroids, index.centroids)
  with pytest.raises(ZeroDivisionError):  # A new key (changed source) rebuilds.
    centroids.build_index(source, 4, 255, str(tmp_path), 'other', num_workers=0)


def test_build_index_in_worker_processes_matches_serial():
  source = _source(8)
  serial = centroids.build_index(source, 4, num_workers=0)
  parallel = centroids.build_index(source, 4, num_workers=2)
  np.testing.assert_array_equal(parallel.image_ids, serial.image_ids)
  np.testing.assert_array_equal(parallel.centroids, serial.centroids)


def test_source_fingerprint_sees_label_changes():
  source = _source()
  assert centroids.source_fingerprint(source) == centroids.source_fingerprint(_source())
  source[-1]['label'][0, 0] ^= 1
  assert centroids.source_fingerprint(source) != centroids.source_fingerprint(_source())


class _SlowToArrive(list):
  """A source whose pickle makes a spawned worker pause mid-read (after marking `path`).

  The parent's write of the rest (over a pipe's 64 KiB) is then blocked: the
  moment a stop signal used to cut a worker's start-up data short.
  """

  def __init__(self, items, path):
    super().__init__(items)
    self.path = path

  def __reduce__(self):
    return _arrive_slowly, (self.path, list(self), np.zeros(1 << 20, np.uint8))


def _arrive_slowly(path, items, padding):
  del padding
  open(path, 'w').close()
  time.sleep(2)
  return list(items)


class _Stop(Exception):
  pass


def test_stop_signal_during_worker_start_up_leaves_no_worker_traceback(tmp_path, capfd):
  marker = str(tmp_path / 'reading')

  def send_when_a_worker_reads():
    while not os.path.exists(marker):
      time.sleep(0.01)
    os.kill(os.getpid(), signal.SIGUSR1)

  def stop(signum, frame):
    raise _Stop

  previous = signal.signal(signal.SIGUSR1, stop)
  sender = threading.Thread(target=send_when_a_worker_reads, daemon=True)
  sender.start()
  try:
    with pytest.raises(_Stop):
      centroids.build_index(_SlowToArrive(_source(8), marker), 4, num_workers=2)
  finally:
    signal.signal(signal.SIGUSR1, previous)
  sender.join(5)
  time.sleep(3)  # a worker cut short would print its traceback by now
  err = capfd.readouterr().err
  assert 'Traceback' not in err, err
