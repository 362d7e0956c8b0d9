"""Optimizer and LR schedule against hand-computed steps."""
import jax.numpy as jnp
import numpy as np
import pytest

from stseg_jax import optim


def test_poly_lr_values():
  assert float(optim.poly_lr(0, 100, 0.02)) == pytest.approx(0.02)
  assert float(optim.poly_lr(50, 100, 0.02)) == pytest.approx(0.02 * 0.5 ** 0.9)
  assert float(optim.poly_lr(100, 100, 0.02)) == 0.0
  assert float(optim.poly_lr(4, 100, 0.02, warmup_images=10)) == pytest.approx(
      0.02 * (1 - 0.04) ** 0.9 * 0.5)


def test_sgd_matches_torch_semantics_and_skips_1d_params():
  params = {'kernel': jnp.array([[1.0, 2.0]]), 'scale': jnp.array([1.0])}
  grads = {'kernel': jnp.array([[0.5, 0.5]]), 'scale': jnp.array([0.5])}
  tx = optim.sgd_direction(momentum=0.9, weight_decay=0.1)
  state = tx.init(params)
  direction, state = tx.update(grads, state, params)
  # Step 1: buf = g + wd * w (kernels only).
  np.testing.assert_allclose(direction['kernel'], [[0.6, 0.7]], rtol=1e-6)
  np.testing.assert_allclose(direction['scale'], [0.5], rtol=1e-6)
  direction, _ = tx.update(grads, state, params)
  # Step 2: buf = 0.9 * buf + g + wd * w.
  np.testing.assert_allclose(direction['kernel'], [[0.9 * 0.6 + 0.6, 0.9 * 0.7 + 0.7]], rtol=1e-6)
  updates = optim.apply_lr(direction, 0.01)
  np.testing.assert_allclose(updates['scale'], [-0.01 * (0.9 * 0.5 + 0.5)], rtol=1e-6)
