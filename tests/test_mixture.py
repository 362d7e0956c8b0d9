"""The real and pseudo streams of an epoch: counts, draws and their mixing."""
import collections

from stseg_jax.data import mixture
from test_sampler import NUM_IMAGES, imbalanced_index
from test_train import tiny_config


def _mixture(num_real=10, num_second=30, second=mixture.PSEUDO):
  return mixture.Mixture(sources=(list(range(20)), list(range(NUM_IMAGES))), second=second,
                         num_real=num_real, num_second=num_second, real_class_uniform=0.0,
                         second_class_uniform=1.0)


def test_mixed_epoch_real_and_pseudo():
  indexes = [None, imbalanced_index()]
  items = mixture.epoch_items(_mixture(), indexes, seed=4, epoch=2)
  counts = collections.Counter(source for source, _, _ in items)
  assert counts == {0: 10, 1: 30}
  assert all((c is None) == (s == 0) for s, _, c in items)
  assert sorted({i for s, i, _ in items if s == 0}) == sorted(
      i for s, i, _ in items if s == 0)  # Real images without repeats.
  assert items == mixture.epoch_items(_mixture(), indexes, seed=4, epoch=2)


def test_pseudo_only_draws_the_second_stream_as_joint_training_does():
  indexes = [None, imbalanced_index()]
  joint = mixture.epoch_items(_mixture(), indexes, seed=4, epoch=2)
  only = mixture.epoch_items(_mixture(num_real=0), indexes, seed=4, epoch=2)
  assert sorted(only) == sorted(item for item in joint if item[0] == 1)


def test_counts_and_the_second_stream():
  config = tiny_config()
  config.train.epoch_items, config.pseudo.ratio = 0, 0.5
  assert mixture.second_stream(config.pseudo) is None
  assert mixture.counts(config.train, config.pseudo, 3) == (3, 0)
  config.pseudo.dir = '/labels'
  assert mixture.second_stream(config.pseudo) == mixture.PSEUDO
  assert mixture.counts(config.train, config.pseudo, 3, mixture.PSEUDO) == (3, 2)  # 1.5 rounds up
  config.pseudo.only = True
  assert mixture.counts(config.train, config.pseudo, 3, mixture.PSEUDO) == (0, 2)
  config.pseudo.dir, config.pseudo.duplicate_real = '', True
  assert mixture.second_stream(config.pseudo) == mixture.DUPLICATE_REAL
