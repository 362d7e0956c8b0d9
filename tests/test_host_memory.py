"""stseg_jax.host_memory: freed buffers stay in the process (no page faults per step)."""
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
