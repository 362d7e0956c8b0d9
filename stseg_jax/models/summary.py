"""Prints a markdown table of model sizes, FLOPs and CPU forward times.

  python -m stseg_jax.models.summary [--models=fast_scnn,pspnet_resnet101]

Takes several minutes on 2 CPU cores (mostly the 512x512 timings of the large
backbones at output stride 8).
"""

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from stseg_jax import models

# Table row -> (model name, backbone or None).
SPECS = {
    'deeplabv3plus_resnet50': ('deeplabv3plus', 'resnet50'),
    'deeplabv3plus_resnext50': ('deeplabv3plus', 'resnext50_32x4d'),
    'deeplabv3plus_wideresnet38': ('deeplabv3plus', 'wideresnet38'),
    'pspnet_resnet101': ('pspnet', 'resnet101'),
    'fast_scnn': ('fast_scnn', None),
}


def random_variables(model, shape=(1, 32, 32, 3), seed=0):
  """He-normal kernels, unit BN, from numpy: compiling flax's init is slow."""
  rng = np.random.default_rng(seed)

  def fill(path, s):
    name = path[-1].key
    if name == 'kernel':
      std = np.sqrt(2 / np.prod(s.shape[:-1]))
      return jnp.asarray(rng.normal(size=s.shape) * std, s.dtype)
    ones = name in ('scale', 'var')
    return (jnp.ones if ones else jnp.zeros)(s.shape, s.dtype)

  shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros(shape))
  return jax.tree_util.tree_map_with_path(fill, shapes)


def gflops(model, variables, size):
  """Forward GFLOPs at batch 1 from XLA's cost analysis (2 FLOPs per MAC)."""
  x = jax.ShapeDtypeStruct((1, size, size, 3), jnp.float32)
  cost = jax.jit(model.apply).lower(variables, x).compile().cost_analysis()
  # Older jax returned a list with one dict per computation.
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return cost['flops'] / 1e9


def forward_seconds(model, variables, size, runs):
  """Median wall time of a jitted batch-1 forward, after one warm-up run."""
  apply = jax.jit(model.apply)
  x = jax.random.normal(jax.random.key(0), (1, size, size, 3))
  jax.block_until_ready(apply(variables, x))
  times = []
  for _ in range(runs):
    start = time.perf_counter()
    jax.block_until_ready(apply(variables, x))
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--models', default=','.join(SPECS))
  parser.add_argument('--num_classes', type=int, default=19)
  parser.add_argument('--output_stride', type=int, default=8)
  parser.add_argument('--flops_size', type=int, default=800)
  parser.add_argument('--time_size', type=int, default=512)
  parser.add_argument('--runs', type=int, default=3)
  args = parser.parse_args()

  print(f'| model | backbone | params (M) | GFLOPs {args.flops_size}^2 '
        f'| CPU fwd {args.time_size}^2 (s) |')
  print('|---|---|---|---|---|')
  for row in args.models.split(','):
    name, backbone = SPECS[row]
    options = {} if backbone is None else {
        'backbone': backbone, 'output_stride': args.output_stride}
    model = models.create(name, args.num_classes, **options)
    variables = random_variables(model)
    params = models.param_count(variables) / 1e6
    flops = gflops(model, variables, args.flops_size)
    secs = forward_seconds(model, variables, args.time_size, args.runs)
    print(f'| {name} | {backbone or "-"} | {params:.2f} | {flops:.1f} '
          f'| {secs:.2f} |', flush=True)


if __name__ == '__main__':
  main()
