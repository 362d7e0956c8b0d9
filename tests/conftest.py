"""Every test sees 8 simulated CPU devices, so the sharded paths always run."""
import atexit
import os
import shutil
import sys
import tempfile

os.environ.setdefault('XLA_FLAGS', '--xla_force_host_platform_device_count=8')
os.environ.setdefault('JAX_PLATFORMS', 'cpu')
# One persistent XLA cache for the run and the subprocesses it starts: the tests
# build the same small programs again and again, and on a 2-core CPU compiling
# them was most of the suite's time. A fresh folder per run, so no test ever
# depends on what an earlier run left behind.
if 'JAX_COMPILATION_CACHE_DIR' not in os.environ:
  os.environ['JAX_COMPILATION_CACHE_DIR'] = tempfile.mkdtemp(prefix='stseg-xla-cache-')
  atexit.register(shutil.rmtree, os.environ['JAX_COMPILATION_CACHE_DIR'], ignore_errors=True)
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS', '0')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import flags  # pylint: disable=g-import-not-at-top

# grain's multiprocessing reads absl flags, which only an absl app parses.
flags.FLAGS.mark_as_parsed()


def pytest_configure(config):
  config.addinivalue_line(
      'markers', 'alone: reads machine-wide state (/dev/shm, a time cap); '
      '`launch/local.sh test` runs these after the others, by themselves')
