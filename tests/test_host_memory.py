"""Host memory: freed buffers stay in the process (stseg_jax.host_memory: no page
faults per step), and the data workers' shared memory is released before exit."""
import os
import subprocess
import sys

import pytest

from stseg_jax import host_memory

# A step whose 64 MB output is allocated and freed on every call; prints the
# fewest minor page faults of 5 calls in a row, after the first 5.
_PROGRAM = '''
import stseg_jax, jax, jax.numpy as jnp
f = jax.jit(lambda x: jnp.sin(x) * 2)
x = jnp.ones((4096, 4096))
faults = lambda: int(open('/proc/self/stat').read().split()[9])
windows = []
for _ in range(6):  # the heap reaches its high-water mark within a few calls
  before = faults()
  for _ in range(5):
    f(x).block_until_ready()
  windows.append(faults() - before)
print(min(windows[1:]))
'''


def _faults(keep):
  env = dict(os.environ, STSEG_KEEP_HOST_MEMORY='1' if keep else '0')
  out = subprocess.run([sys.executable, '-c', _PROGRAM], env=env, capture_output=True,
                       text=True, check=True)
  return int(out.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='glibc only')
def test_freed_buffers_are_reused_without_page_faults():
  assert host_memory.applied  # by `import stseg_jax`, as in every job
  without, kept = _faults(keep=False), _faults(keep=True)
  # Without the settings every call faults its 64 MB back in (16,384 pages).
  assert without > 5 * 8000, without
  assert kept < 1000, kept


# Batches from a grain worker process, dropped, then an exit that skips every
# atexit handler: a segment not yet unlinked by then is reported as leaked.
_SHM_PROGRAM = '''
import os, sys
import numpy as np
from absl import flags
from stseg_jax.data import pipeline
flags.FLAGS(sys.argv[:1])  # grain reads its flags in the workers
items = [(0, i, None) for i in range(24)]
class Source:
  num_classes = 3
  def __len__(self): return 24
  def __getitem__(self, i):
    return {'image': np.full((48, 48, 3), i, np.uint8), 'label': np.zeros((48, 48), np.uint8)}
it = iter(pipeline.train_epoch([Source()], items, crop=32, global_batch=4, seed=0, epoch=0,
                               num_workers=1))
batches = [next(it) for _ in range(4)]
it.close()
del batches, it
if sys.argv[1] == 'release':
  pipeline.release_shared_memory()
os._exit(0)
'''


def _leak_report(mode):
  out = subprocess.run([sys.executable, '-c', _SHM_PROGRAM, mode], capture_output=True,
                       text=True, timeout=300)
  assert out.returncode == 0, out.stderr[-2000:]
  return 'leaked shared_memory' in out.stderr


def test_worker_shared_memory_is_released_before_exit():
  assert not _leak_report('release')
