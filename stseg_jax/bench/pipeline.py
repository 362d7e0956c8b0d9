"""Input-pipeline benchmark: augmented crops per second (not a test).

  python -m stseg_jax.bench.pipeline [--crop=800 --height=1024 --width=2048]

Times the full training transform (source read, centroid-centred or random
crop, scale, flip, blur, colour jitter) on one core, with and without centroid
sampling, then the grain pipeline with worker processes. Scenes are rendered
once up front so the synthetic renderer's own cost is not counted: it stands
in for decoding a PNG, which `--decode` adds back.
"""
import argparse
import io
import json
import time

from absl import flags
import numpy as np
from PIL import Image

from stseg_jax.data import centroids
from stseg_jax.data import pipeline as pipeline_lib
from stseg_jax.data import sampler
from stseg_jax.data import synthetic


class InMemorySource:
  """Pre-rendered scenes, optionally kept PNG-encoded so reads decode them."""

  def __init__(self, n, height, width, decode):
    scenes = [synthetic.render_scene(i, height, width) for i in range(n)]
    self.decode = decode
    self.items = [(_png(im), _png(lb)) if decode else (im, lb) for im, lb in scenes]
    self.num_classes = len(synthetic.CITYSCAPES_CLASSES)

  def __len__(self):
    return len(self.items)

  def __getitem__(self, i):
    image, label = self.items[i]
    if self.decode:
      image, label = np.asarray(Image.open(io.BytesIO(image))), np.asarray(Image.open(io.BytesIO(label)))
    return {'image': image, 'label': label, 'id': str(i)}


def _png(array):
  buf = io.BytesIO()
  Image.fromarray(array).save(buf, format='PNG')
  return buf.getvalue()


def crops_per_second_one_core(source, items, crop):
  transform = pipeline_lib._TrainTransform((source,), crop, 0, 0, pipeline_lib.AugmentOptions())  # pylint: disable=protected-access
  transform((0, 0, 0, None))  # warm caches
  start = time.perf_counter()
  for i, (image_id, center) in enumerate(items):
    transform((i, 0, image_id, center))
  return len(items) / (time.perf_counter() - start)


def crops_per_second_grain(source, items, crop, workers, batch=8):
  items = [(0, image_id, center) for image_id, center in items]
  it = pipeline_lib.train_epoch([source], items, crop=crop, global_batch=batch, seed=0,
                            epoch=0, num_workers=workers)
  batches = iter(it)
  next(batches)  # worker start-up is a one-off cost
  start, n = time.perf_counter(), 0
  for _ in batches:
    n += batch
  return n / (time.perf_counter() - start)


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument('--crop', type=int, default=800)
  p.add_argument('--height', type=int, default=1024)
  p.add_argument('--width', type=int, default=2048)
  p.add_argument('--scenes', type=int, default=8)
  p.add_argument('--items', type=int, default=64)
  p.add_argument('--workers', type=int, default=2)
  p.add_argument('--decode', action='store_true', help='store scenes as PNG and decode per read')
  args = p.parse_args()
  flags.FLAGS.mark_as_parsed()  # grain workers read absl flags
  source = InMemorySource(args.scenes, args.height, args.width, args.decode)
  index = centroids.CentroidIndex.from_images(
      [centroids.region_centroids(source[i]['label'], source.num_classes)
       for i in range(len(source))], source.num_classes)
  results = {'crop': args.crop, 'image': [args.height, args.width], 'decode_png': args.decode}
  for name, fraction in (('uniform', 0.0), ('centroid', 1.0)):
    items = sampler.epoch_items(index, len(source), args.items,
                                class_uniform_fraction=fraction, seed=0, epoch=0)
    results[f'{name}_crops_per_s_one_core'] = crops_per_second_one_core(source, items, args.crop)
    results[f'{name}_crops_per_s_grain_{args.workers}_workers'] = crops_per_second_grain(
        source, items, args.crop, args.workers)
  print(json.dumps(results, indent=1))


if __name__ == '__main__':
  main()
