"""The project's BatchNorm against flax's nn.BatchNorm (an independent implementation)."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from stseg_jax.models import batch_norm


def _flax_bn(train):
  return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                      use_fast_variance=False)


def _variables(c):
  return {'params': {'scale': jnp.linspace(0.5, 2.0, c), 'bias': jnp.linspace(-1.0, 1.0, c)},
          'batch_stats': {'mean': jnp.linspace(-0.1, 0.1, c), 'var': jnp.linspace(0.9, 1.1, c)}}


def test_same_variables_as_flax_batch_norm():
  x = jnp.ones((2, 3, 4, 5))
  ours = batch_norm.BatchNorm().init(jax.random.key(0), x)
  theirs = _flax_bn(True).init(jax.random.key(0), x)
  jax.tree.map(np.testing.assert_array_equal, ours, theirs)


def test_train_mode_output_stats_and_gradients_match_flax():
  x = jax.random.normal(jax.random.key(0), (4, 6, 7, 5)) * 3 + 2
  cotangent = jax.random.normal(jax.random.key(1), x.shape)
  variables = _variables(5)

  def run(module):
    def loss(x, params):
      y, updates = module.apply({**variables, 'params': params}, x, mutable=['batch_stats'])
      return jnp.sum(y * cotangent), updates
    return jax.value_and_grad(loss, (0, 1), has_aux=True)(x, variables['params'])

  (ours, ours_stats), ours_grads = run(batch_norm.BatchNorm())
  (theirs, theirs_stats), theirs_grads = run(_flax_bn(True))
  np.testing.assert_allclose(ours, theirs, rtol=1e-5)
  for a, b in zip(jax.tree.leaves((ours_stats, ours_grads)),
                  jax.tree.leaves((theirs_stats, theirs_grads))):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_eval_mode_is_bit_identical_to_flax():
  x = jax.random.normal(jax.random.key(0), (2, 3, 4, 5))
  variables = _variables(5)
  np.testing.assert_array_equal(batch_norm.BatchNorm(use_running_average=True).apply(variables, x),
                                _flax_bn(False).apply(variables, x))


def test_channel_sums_by_hand():
  x = jnp.arange(2 * 3 * 4 * 2, dtype=jnp.float32).reshape(2, 3, 4, 2)
  sums, squares = batch_norm.channel_sums([x, x * x])
  np.testing.assert_array_equal(sums, np.asarray(x).reshape(-1, 2).sum(0))
  np.testing.assert_array_equal(squares, (np.asarray(x) ** 2).reshape(-1, 2).sum(0))
