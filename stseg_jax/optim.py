"""SGD with momentum and decoupled-from-BN weight decay, and the poly LR.

The learning rate is a function of images seen, not of steps, so crop-size
schedules that change the batch size stay comparable at equal images
processed (paper section 3.3). It is applied after momentum, as torch's SGD
does, which keeps the recipe's numbers (lr 0.02, momentum 0.9, wd 1e-4)
meaning what they mean in the paper.
"""
import jax
import jax.numpy as jnp
import optax


def poly_lr(images_seen, total_images, base_lr, power=0.9, warmup_images=0):
  """base_lr * (1 - t)^power with t the fraction of images seen; linear warmup.

  `total_images` may be traced: the trainer passes it as an argument so one
  compiled step serves every run length (and the persistent XLA cache).
  """
  images_seen = jnp.asarray(images_seen, jnp.float32)
  t = jnp.clip(images_seen / jnp.maximum(total_images, 1), 0.0, 1.0)
  lr = base_lr * (1.0 - t) ** power
  if warmup_images:
    lr = lr * jnp.minimum(1.0, (images_seen + 1.0) / warmup_images)
  return lr


def decay_mask(params):
  """Weight decay on kernels only: BN scales/biases and conv biases are 1-D."""
  return jax.tree.map(lambda p: p.ndim > 1, params)


def sgd_direction(momentum=0.9, weight_decay=1e-4, nesterov=False):
  """The update direction before the learning rate: (grad + wd * w) with momentum."""
  return optax.chain(
      optax.add_decayed_weights(weight_decay, mask=decay_mask),
      optax.trace(decay=momentum, nesterov=nesterov),
  )


def apply_lr(direction, lr):
  """Turns a direction into parameter updates: -lr * direction."""
  return jax.tree.map(lambda d: (-lr * d).astype(d.dtype), direction)
