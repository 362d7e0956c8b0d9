"""Pictures a user looks at: colourised predictions beside the image and ground truth,
and mIoU over training steps.

  save_examples: one PNG per image, [image | prediction over image | ground truth | prediction]
    (without ground truth, e.g. pseudo labels: [image | label over image | label])
  plot_miou: eval mIoU vs step of one or more runs (metric_writer.eval_curve), as a PNG
"""
import os

from etils import epath
import numpy as np
from PIL import Image

from stseg_jax.data.labels import IGNORE_LABEL


def palette_of(source):
  """(K, 3) uint8 class colours of a source (every dataset class has its `palette`)."""
  return np.asarray(source.palette, np.uint8)


def colorize(label, palette):
  """(H, W, 3) uint8 colours of a label map; ignore (255) and ids beyond the palette black."""
  lut = np.zeros((256, 3), np.uint8)
  lut[:len(palette)] = palette[:256]
  return lut[np.asarray(label).astype(np.uint8)]


def overlay(image, label, palette, alpha=0.5):
  """The image with the label's colours blended in; unlabelled pixels keep the image."""
  colours = colorize(label, palette).astype(np.float32)
  blended = (1 - alpha) * image.astype(np.float32) + alpha * colours
  keep = (np.asarray(label) == IGNORE_LABEL)[..., None]
  return np.where(keep, image, blended).round().astype(np.uint8)


def example_strip(image, prediction, palette, label=None):
  """[image | prediction over image | ground truth, if given | prediction], side by side."""
  panels = [image, overlay(image, prediction, palette)]
  panels += [] if label is None else [colorize(label, palette)]
  return np.concatenate(panels + [colorize(prediction, palette)], axis=1)


def save_examples(directory, images, predictions, ids, palette, labels=None):
  """Writes DIRECTORY/<id>.png strips; returns their paths."""
  epath.Path(directory).mkdir(parents=True, exist_ok=True)
  labels = [None] * len(images) if labels is None else labels
  paths = []
  for image, prediction, label, image_id in zip(images, predictions, labels, ids):
    path = os.path.join(directory, f'{image_id}.png')
    with epath.Path(path).open('wb') as f:
      Image.fromarray(example_strip(image, prediction, palette, label)).save(f, format='PNG')
    paths.append(path)
  return paths


def plot_miou(curves, path, title='eval mIoU'):
  """PNG of {name: [(step, mIoU)]}; returns `path`."""
  # A bare Figure, not pyplot: no global backend to set, none to change under
  # a notebook that shows its own plots.
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  fig = Figure(figsize=(6, 4))
  ax = fig.add_subplot()
  for name, points in curves.items():
    if points:
      steps, values = zip(*points)
      ax.plot(steps, values, marker='o', label=name)
  ax.set_xlabel('step')
  ax.set_ylabel('mIoU')
  ax.set_title(title)
  ax.grid(alpha=0.3)
  ax.legend()
  fig.tight_layout()
  with epath.Path(path).open('wb') as f:
    fig.savefig(f, dpi=100, format='png')
  return path
