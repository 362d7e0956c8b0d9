"""Every test sees 8 simulated CPU devices, so the sharded paths always run."""
import os
import sys

os.environ.setdefault('XLA_FLAGS', '--xla_force_host_platform_device_count=8')
os.environ.setdefault('JAX_PLATFORMS', 'cpu')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import flags  # pylint: disable=g-import-not-at-top

# grain's multiprocessing reads absl flags, which only an absl app parses.
flags.FLAGS.mark_as_parsed()
