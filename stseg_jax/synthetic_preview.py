"""`python -m stseg_jax.synthetic_preview`: sample synthetic scenes over their colourised labels.

  python -m stseg_jax.synthetic_preview --out=/tmp/synth --n=4 --domain=B

Writes image-over-label PNGs and prints the render time and class shares.
"""
import argparse
import os
import time

import numpy as np
from PIL import Image

from stseg_jax import visualize
from stseg_jax.data.labels import IGNORE_LABEL
from stseg_jax.data.synthetic.source import SyntheticSource


def main(argv=None):
  """Write sample images over their colourised labels; print render time and class shares."""
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument('--out', default='/tmp/synth')
  p.add_argument('--n', type=int, default=4)
  p.add_argument('--split', default='val')
  p.add_argument('--domain', default='A')
  p.add_argument('--extra_classes', action='store_true')
  p.add_argument('--height', type=int, default=256)
  p.add_argument('--width', type=int, default=512)
  args = p.parse_args(argv)
  os.makedirs(args.out, exist_ok=True)
  src = SyntheticSource(args.split, args.n, args.height, args.width, args.domain,
                        args.extra_classes)
  palette, counts, seconds = visualize.palette_of(src), np.zeros(256, np.int64), 0.0
  for i in range(len(src)):
    start = time.perf_counter()
    item = src[i]
    seconds += time.perf_counter() - start
    counts += np.bincount(item['label'].ravel(), minlength=256)
    both = np.concatenate([item['image'], visualize.colorize(item['label'], palette)], axis=0)
    Image.fromarray(both).save(os.path.join(args.out, f'{item["id"]}.png'))
  print(f'{src!r}: {1000 * seconds / max(len(src), 1):.1f} ms a scene, samples in {args.out}')
  for k, name in enumerate(src.class_names + ('unlabelled',)):
    share = counts[k if k < src.num_classes else IGNORE_LABEL] / max(counts.sum(), 1)
    print(f'{name:>14s} {100 * share:6.2f}%')


if __name__ == '__main__':
  main()
