"""Inference throughput: images/s per device of inference.Predictor, random weights.

  python -m stseg_jax.bench.inference --model=fast_scnn --height=1024 --width=2048 \
      [--tile=1024 --tile_batch=8 | --whole]

Times the paper's test-time recipe (scales 0.5, 1, 2, flipped, overlapping
tiles; inference.PAPER_RECIPE) or one whole-image pass, after a warm-up image
that compiles.
"""
import argparse
import dataclasses
import time

import jax
import numpy as np

from stseg_jax import inference
from stseg_jax import models
from stseg_jax import sharding
from stseg_jax.models import summary


def benchmark(model_name, height, width, config, num_classes=19, num_images=2,
              **model_options):
  """Images/s per device of Predictor.predict, random weights, after a warm-up image."""
  model = models.create(model_name, num_classes, **model_options)
  mesh = sharding.make_mesh(jax.local_devices())
  predictor = inference.Predictor(model, summary.random_variables(model), mesh, config,
                                  num_classes)
  images = np.random.default_rng(0).integers(
      0, 256, (num_images, height, width, 3), np.uint8)
  predictor.predict(images[0])  # compiles
  start = time.perf_counter()
  for image in images:
    predictor.predict(image)
  return num_images / (time.perf_counter() - start) / mesh.devices.size


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--model', default='fast_scnn')
  parser.add_argument('--height', type=int, default=1024)
  parser.add_argument('--width', type=int, default=2048)
  parser.add_argument('--tile', type=int, default=1024)
  parser.add_argument('--tile_batch', type=int, default=8)
  parser.add_argument('--images', type=int, default=2)
  parser.add_argument('--whole', action='store_true', help='one whole-image pass')
  args = parser.parse_args()
  config = (inference.InferenceConfig() if args.whole else dataclasses.replace(
      inference.PAPER_RECIPE, tile_size=args.tile, tile_batch=args.tile_batch))
  rate = benchmark(args.model, args.height, args.width, config, num_images=args.images)
  print(f'{args.model} {args.height}x{args.width} {config}: {rate:.3f} images/s '
        f'per device on {jax.local_devices()[0].device_kind}')


if __name__ == '__main__':
  main()
