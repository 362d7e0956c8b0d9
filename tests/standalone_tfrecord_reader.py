"""A TFRecord + tf.train.Example reader from the standard library alone.

It imports nothing from stseg_jax, TensorFlow or protobuf, and is written from
the formats' specs: if it reads the project's shards, they are plain TFRecords.

  python tests/standalone_tfrecord_reader.py FILE.tfrecord   # prints each record's features
"""
import struct
import sys


def _crc32c_table():
  poly = 0x82F63B78  # Castagnoli polynomial, bit-reversed
  table = []
  for n in range(256):
    for _ in range(8):
      n = (n >> 1) ^ poly if n & 1 else n >> 1
    table.append(n)
  return table


_TABLE = _crc32c_table()


def crc32c(data):
  crc = 0xFFFFFFFF
  for byte in data:
    crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
  return crc ^ 0xFFFFFFFF


def masked_crc32c(data):
  crc = crc32c(data)
  return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def read_tfrecord(path):
  """Yields record payloads, checking both CRCs of each."""
  with open(path, 'rb') as f:
    while True:
      header = f.read(12)
      if not header:
        return
      if len(header) < 12:
        raise ValueError(f'{path}: truncated header')
      (length,), (length_crc,) = struct.unpack('<Q', header[:8]), struct.unpack('<I', header[8:])
      if masked_crc32c(header[:8]) != length_crc:
        raise ValueError(f'{path}: bad length CRC')
      data, footer = f.read(length), f.read(4)
      if len(data) < length or len(footer) < 4:
        raise ValueError(f'{path}: truncated record')
      if masked_crc32c(data) != struct.unpack('<I', footer)[0]:
        raise ValueError(f'{path}: bad data CRC')
      yield data


def _varint(buf, pos):
  result = shift = 0
  while True:
    byte = buf[pos]
    pos += 1
    result |= (byte & 0x7F) << shift
    shift += 7
    if not byte & 0x80:
      return result, pos


def _fields(buf):
  """Yields (field number, wire type, value) of one protobuf message."""
  pos = 0
  while pos < len(buf):
    key, pos = _varint(buf, pos)
    number, wire = key >> 3, key & 7
    if wire == 0:
      value, pos = _varint(buf, pos)
    elif wire == 1:
      value, pos = buf[pos:pos + 8], pos + 8
    elif wire == 2:
      size, pos = _varint(buf, pos)
      value, pos = buf[pos:pos + size], pos + size
    elif wire == 5:
      value, pos = buf[pos:pos + 4], pos + 4
    else:
      raise ValueError(f'unsupported wire type {wire}')
    yield number, wire, value


def _int64(v):
  return v - (1 << 64) if v >= 1 << 63 else v  # varints carry int64 as two's complement


def _feature_values(buf):
  """Feature message -> list of bytes, floats or ints (oneof fields 1, 2, 3)."""
  out = []
  for kind, _, list_msg in _fields(buf):
    for _, wire, v in _fields(list_msg):
      if kind == 1:
        out.append(bytes(v))
      elif kind == 2:  # floats: packed (wire 2) or one per field (wire 5)
        out.extend(struct.unpack(f'<{len(v) // 4}f', v) if wire == 2 else struct.unpack('<f', v))
      elif wire == 2:  # packed int64 varints
        pos = 0
        while pos < len(v):
          n, pos = _varint(v, pos)
          out.append(_int64(n))
      else:
        out.append(_int64(v))
  return out


def parse_example(buf):
  """tf.train.Example bytes -> {feature name: list of values}."""
  features = {}
  for _, _, features_msg in _fields(buf):  # Example.features = 1
    for _, _, entry in _fields(features_msg):  # Features.feature = 1, map entries
      key = value = b''
      for number, _, v in _fields(entry):
        key, value = (v, value) if number == 1 else (key, v)
      features[key.decode()] = _feature_values(value)
  return features


if __name__ == '__main__':
  for i, record in enumerate(read_tfrecord(sys.argv[1])):
    summary = {k: (v if len(v) < 8 and not any(isinstance(x, bytes) and len(x) > 40 for x in v)
                   else f'<{len(v)} values, {sum(len(x) for x in v if isinstance(x, bytes))} B>')
               for k, v in sorted(parse_example(record).items())}
    print(i, summary)
