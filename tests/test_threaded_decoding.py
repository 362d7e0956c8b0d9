"""Decoding from many threads at once in a fresh process, and errors that cross processes."""
import pickle
import subprocess
import sys

from stseg_jax import errors
from stseg_jax.data.pseudo import tfrecord

# Writes a few PNGs and pseudo-label records, then (fresh interpreter, nothing
# imported yet but the writer) decodes both from 16 threads at once: the first
# decodes in every reader thread start together, where a lazily imported
# module could race with PIL's own lazy plugin imports.
_PROGRAM = r'''
import io, os, sys, tempfile, threading
import numpy as np
from PIL import Image
from stseg_jax.data import image_io
from stseg_jax.data.pseudo import example as pseudo_example
tmp = tempfile.mkdtemp()
paths, records = [], []
rng = np.random.default_rng(0)
for i in range(16):
  path = os.path.join(tmp, f'{i}.png')
  Image.fromarray(rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(path)
  paths.append(path)
  records.append(pseudo_example.encode_example(
      f'img{i}', path, rng.integers(0, 11, (40, 60), dtype=np.uint8), centroids={1: [[3, 4]]}))
barrier, failures = threading.Barrier(16), []
def read(i):
  barrier.wait()
  try:
    image_io.read_image(paths[i])
    pseudo_example.decode_example(records[i])
  except Exception as e:
    failures.append(repr(e))
threads = [threading.Thread(target=read, args=(i,)) for i in range(16)]
[t.start() for t in threads]
[t.join() for t in threads]
print('failures', failures)
print('tfds imported', 'tensorflow_datasets' in sys.modules)
'''


def test_images_and_records_decode_from_many_threads_in_a_fresh_process():
  out = subprocess.run([sys.executable, '-c', _PROGRAM], capture_output=True, text=True,
                       check=True).stdout
  assert 'failures []' in out, out
  # The record codec does not import tfds (whose import-time patching of
  # __import__ raced with PIL's plugin import: "Relative import statements
  # not supported", reported as a corrupt image).
  assert 'tfds imported False' in out, out


def test_data_errors_survive_pickling():
  # grain's worker processes pickle a worker's exception to the trainer.
  error = pickle.loads(pickle.dumps(tfrecord.CorruptRecordError('a.tfrecord', 32, 'bad CRC')))
  assert isinstance(error, tfrecord.CorruptRecordError)
  assert (error.path, error.offset) == ('a.tfrecord', 32)
  assert str(error) == 'a.tfrecord: corrupt TFRecord at byte offset 32: bad CRC'
  assert str(pickle.loads(pickle.dumps(errors.DataError('x.png: bad')))) == 'x.png: bad'
