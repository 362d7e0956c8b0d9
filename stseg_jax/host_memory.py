"""Keeps freed host memory in the process, so a CPU train step stops page-faulting.

XLA:CPU allocates each step's buffers with malloc and frees them after it.
glibc serves large blocks with mmap, or from per-thread arenas it trims, and
hands the pages back to the OS on free; the next step faults every page in
again and the kernel zeroes it. A Fast-SCNN step at 256 x 256, batch 8, took
83,000 page faults (340 MB) per step (benchmarks/README.md). The settings:
one arena (the main heap), no mmap for large blocks, and no trimming (a trim
threshold of 2 GB still let a 512 x 512 step's 1.3 GB of temporaries go back
to the OS on some steps), so the heap stays at its high-water mark.

`apply()` runs at `import stseg_jax`: arenas are made by the first malloc of
each thread, so the settings must come before JAX starts its thread pools.
STSEG_KEEP_HOST_MEMORY=0 turns it off; where libc is not glibc it does nothing.
"""
import ctypes
import os

# glibc's mallopt parameter numbers (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8
# A trim threshold of -1 is SIZE_MAX to glibc (mallopt takes an int): never trim.
_SETTINGS = ((_M_ARENA_MAX, 1), (_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, -1))

applied = False


def apply():
  """Sets glibc's malloc to keep freed memory; returns whether it did."""
  global applied
  if applied or os.environ.get('STSEG_KEEP_HOST_MEMORY', '1') == '0':
    return applied
  try:
    mallopt = ctypes.CDLL('libc.so.6').mallopt
  except (OSError, AttributeError):  # not Linux with glibc
    return False
  applied = all(mallopt(param, value) == 1 for param, value in _SETTINGS)
  return applied
