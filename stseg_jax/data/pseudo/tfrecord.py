"""The TFRecord container, without TensorFlow: framing, CRCs, offset index, reader, writer.

A TFRecord file is a plain concatenation of records, each framed as

  uint64 length | uint32 masked_crc(length bytes) | data | uint32 masked_crc(data)

all little-endian, where masked_crc is CRC-32C (Castagnoli) rotated right by
15 bits plus 0xa282ead8 (the mask keeps a CRC of data that itself holds CRCs
from looking valid). No header, no footer, no compression here: that is the
whole format, so `tf.data.TFRecordDataset` reads these files and checks the
CRCs. An offset index, (n, 2) int64 rows of (record start, data length),
gives random access; it is derived data, rebuilt by one pass over the file.
"""
import glob
import os
import struct

import google_crc32c
import numpy as np

from stseg_jax import errors

_HEADER = struct.Struct('<QI')  # length, masked CRC of the 8 length bytes
_FOOTER = struct.Struct('<I')  # masked CRC of the data
_LENGTH = struct.Struct('<Q')
FRAMING = _HEADER.size + _FOOTER.size  # 16 bytes around every record


class CorruptRecordError(errors.DataError):
  """A record whose framing or CRC is bad; names the file and byte offset."""

  def __init__(self, path, offset, what):
    super().__init__(f'{path}: corrupt TFRecord at byte offset {offset}: {what}')
    self.path, self.offset, self.what = path, offset, what

  def __reduce__(self):
    # Pickled by its own arguments: grain's worker processes send errors to
    # the trainer, and the default (the message alone) cannot rebuild it.
    return CorruptRecordError, (self.path, self.offset, self.what)


def masked_crc(data):
  """TFRecord's masked CRC-32C of `data`."""
  crc = google_crc32c.value(data)
  return (((crc >> 15) | (crc << 17)) + 0xa282ead8) & 0xffffffff


def frame(data):
  """One record's bytes on disk."""
  length = _LENGTH.pack(len(data))
  return length + _FOOTER.pack(masked_crc(length)) + data + _FOOTER.pack(masked_crc(data))


class TFRecordWriter:
  """Writes records to exactly `path`; `offsets` holds (start, length) per record.

  Not atomic on its own: use `write_shard_atomically` for files others read.
  """

  def __init__(self, path):
    self.path = path
    self.offsets = []
    self._file = open(path, 'wb')
    self._pos = 0

  def write(self, data):
    """Appends one record (bytes)."""
    data = bytes(data)
    self._file.write(frame(data))
    self.offsets.append((self._pos, len(data)))
    self._pos += len(data) + FRAMING

  def close(self, sync=False):
    """Flushes and closes; sync=True also fsyncs, so a rename after it is durable."""
    if self._file.closed:
      return
    self._file.flush()
    if sync:
      os.fsync(self._file.fileno())
    self._file.close()

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()


def temp_path(path):
  """Where `write_shard_atomically` writes `path` before renaming it."""
  return f'{path}.tmp-{os.getpid()}'


def write_shard_atomically(path, records):
  """Writes all `records` to a temp file, renames it to `path`; returns its offset index.

  Readers see either no file or a complete one: a crash leaves only a
  `path.tmp-<pid>` file, which no reader opens. Leftover temp files of the
  same path are removed first, which assumes one writer per shard.
  """
  for stale in glob.glob(glob.escape(path) + '.tmp-*'):
    os.remove(stale)
  tmp = temp_path(path)
  try:
    with TFRecordWriter(tmp) as writer:
      for data in records:
        writer.write(data)
      writer.close(sync=True)
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise
  return np.array(writer.offsets, np.int64).reshape(-1, 2)


def _check_header(path, offset, header):
  """Data length from a 12-byte header, or CorruptRecordError."""
  if len(header) < _HEADER.size:
    raise CorruptRecordError(path, offset, f'truncated header ({len(header)} of '
                             f'{_HEADER.size} bytes before end of file)')
  length, crc = _HEADER.unpack(header)
  if masked_crc(header[:8]) != crc:
    raise CorruptRecordError(path, offset, 'length CRC mismatch')
  return length


def _check_body(path, offset, length, body, verify_crc):
  """The data from `body` (data + 4-byte CRC), or CorruptRecordError."""
  if len(body) < length + _FOOTER.size:
    raise CorruptRecordError(path, offset, f'truncated record (needs {length + FRAMING} bytes, '
                             f'file has {_HEADER.size + len(body)})')
  data = body[:length]
  if verify_crc and masked_crc(data) != _FOOTER.unpack_from(body, length)[0]:
    raise CorruptRecordError(path, offset, f'data CRC mismatch ({length}-byte record)')
  return data


def _walk(path, verify_crc):
  """Yields (offset, data) for each record of the file, in order."""
  offset = 0
  with open(path, 'rb') as f:
    while True:
      header = f.read(_HEADER.size)
      if not header:
        return
      length = _check_header(path, offset, header)
      data = _check_body(path, offset, length, f.read(length + _FOOTER.size), verify_crc)
      yield offset, data
      offset += length + FRAMING


def read_records(path, verify_crc=True):
  """Yields each record's bytes; CorruptRecordError on bad framing, CRC or truncation.

  The length CRC is always checked: a wrong length would misread the rest.
  """
  for _, data in _walk(path, verify_crc):
    yield data


def build_offset_index(path, verify_crc=True):
  """(n, 2) int64 rows of (record start offset, data length), checking every CRC once."""
  rows = [(offset, len(data)) for offset, data in _walk(path, verify_crc)]
  return np.array(rows, np.int64).reshape(-1, 2)


def index_matches(index, path):
  """Whether an offset index covers exactly the file at `path` as it is now."""
  size = os.path.getsize(path)
  if not len(index):
    return size == 0
  return int(index[-1, 0] + index[-1, 1]) + FRAMING == size


def read_record_at(path, offset, length, fd=None, verify_crc=True):
  """The record starting at byte `offset` with `length` data bytes (from an index row).

  Uses os.pread, so threads may share one `fd`; without `fd` the file is
  opened for this one read.
  """
  if fd is None:
    with open(path, 'rb') as f:
      return read_record_at(path, offset, length, f.fileno(), verify_crc)
  offset, length = int(offset), int(length)
  raw = os.pread(fd, length + FRAMING, offset)
  if _check_header(path, offset, raw[:_HEADER.size]) != length:
    raise CorruptRecordError(path, offset, 'length differs from the offset index (stale index?)')
  return _check_body(path, offset, length, raw[_HEADER.size:], verify_crc)
