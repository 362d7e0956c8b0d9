"""TFRecord container: CRCs against an independent implementation, framing errors, index."""
import os

import numpy as np
import pytest

from stseg_jax.data.pseudo import tfrecord
import standalone_tfrecord_reader as standalone  # tests/ is on sys.path under pytest

RECORDS = [b'first', b'', b'x' * 1000, bytes(range(256))]


def _write(path, records=RECORDS):
  with tfrecord.TFRecordWriter(str(path)) as w:
    for r in records:
      w.write(r)
  return str(path)


def test_masked_crc_matches_pure_python():
  # 0xE3069283 is the published CRC-32C check value of '123456789'.
  assert standalone.crc32c(b'123456789') == 0xE3069283
  for data in [b'', b'123456789', os.urandom(100)]:
    assert tfrecord.masked_crc(data) == standalone.masked_crc32c(data)


def test_round_trip_and_standalone_reader(tmp_path):
  path = _write(tmp_path / 'a.tfrecord')
  assert list(tfrecord.read_records(path)) == RECORDS
  assert list(standalone.read_tfrecord(path)) == RECORDS
  assert os.path.getsize(path) == sum(len(r) + tfrecord.FRAMING for r in RECORDS)


def test_offset_index_random_access_equals_sequential(tmp_path):
  path = _write(tmp_path / 'a.tfrecord')
  index = tfrecord.build_offset_index(path)
  assert index.shape == (len(RECORDS), 2) and index.dtype == np.int64
  assert tfrecord.index_matches(index, path)
  with open(path, 'rb') as f:
    got = [tfrecord.read_record_at(path, o, n, fd=f.fileno()) for o, n in index[::-1]]
  assert got == RECORDS[::-1]
  assert tfrecord.read_record_at(path, *index[2]) == RECORDS[2]
  with pytest.raises(tfrecord.CorruptRecordError, match='stale index'):
    tfrecord.read_record_at(path, index[2, 0], 7)


def test_writer_offsets_equal_built_index(tmp_path):
  index = tfrecord.write_shard_atomically(str(tmp_path / 'a.tfrecord'), RECORDS)
  np.testing.assert_array_equal(index, tfrecord.build_offset_index(str(tmp_path / 'a.tfrecord')))


def test_empty_file(tmp_path):
  path = _write(tmp_path / 'e.tfrecord', [])
  assert not list(tfrecord.read_records(path))
  index = tfrecord.build_offset_index(path)
  assert index.shape == (0, 2) and tfrecord.index_matches(index, path)


def _offsets(path):
  return tfrecord.build_offset_index(path)[:, 0].tolist()


@pytest.mark.parametrize('cut', [3, 12, 20])  # inside header, right after it, inside data
def test_truncated_shard_names_file_and_offset(tmp_path, cut):
  path = _write(tmp_path / 't.tfrecord')
  offset = _offsets(path)[2]
  with open(path, 'r+b') as f:
    f.truncate(offset + cut)
  with pytest.raises(tfrecord.CorruptRecordError) as e:
    list(tfrecord.read_records(path))
  msg = str(e.value)
  assert '\n' not in msg and path in msg and f'byte offset {offset}' in msg and 'truncated' in msg
  assert e.value.offset == offset and isinstance(e.value, ValueError)
  with pytest.raises(tfrecord.CorruptRecordError, match=f'offset {offset}'):
    tfrecord.build_offset_index(path)


def _flip(path, at):
  with open(path, 'r+b') as f:
    f.seek(at)
    byte = f.read(1)[0]
    f.seek(at)
    f.write(bytes([byte ^ 0x10]))


def test_flipped_data_byte_fails_data_crc(tmp_path):
  path = _write(tmp_path / 'f.tfrecord')
  offset = _offsets(path)[2]
  _flip(path, offset + 12 + 500)
  with pytest.raises(tfrecord.CorruptRecordError, match=f'offset {offset}: data CRC'):
    list(tfrecord.read_records(path))
  with pytest.raises(tfrecord.CorruptRecordError, match='data CRC'):
    tfrecord.read_record_at(path, offset, 1000)
  # Unverified reads still return the (damaged) payload.
  assert len(list(tfrecord.read_records(path, verify_crc=False))) == len(RECORDS)


def test_flipped_length_byte_fails_length_crc(tmp_path):
  path = _write(tmp_path / 'l.tfrecord')
  offset = _offsets(path)[1]
  _flip(path, offset)
  with pytest.raises(tfrecord.CorruptRecordError, match=f'offset {offset}: length CRC'):
    list(tfrecord.read_records(path, verify_crc=False))


def test_atomic_write_ignores_and_replaces_crash_leftovers(tmp_path):
  path = str(tmp_path / 's.tfrecord')
  leftover = path + '.tmp-99999999'
  with open(leftover, 'wb') as f:
    f.write(tfrecord.frame(b'half')[:9])  # what a killed writer leaves
  assert not os.path.exists(path)
  assert len(tfrecord.write_shard_atomically(path, RECORDS)) == len(RECORDS)
  assert list(tfrecord.read_records(path)) == RECORDS
  assert os.listdir(tmp_path) == ['s.tfrecord']


def test_failed_write_leaves_nothing(tmp_path):
  path = str(tmp_path / 's.tfrecord')

  def records():
    yield b'one'
    raise RuntimeError('teacher crashed')

  with pytest.raises(RuntimeError, match='teacher crashed'):
    tfrecord.write_shard_atomically(path, records())
  assert not os.listdir(tmp_path)
