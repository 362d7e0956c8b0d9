"""Colourised labels, overlays and the mIoU plot, on values worked by hand."""
import json

import numpy as np
from PIL import Image

from stseg_jax import metric_writer
from stseg_jax import visualize

PALETTE = np.array([(255, 0, 0), (0, 0, 255)], np.uint8)


def test_colorize_and_overlay_by_hand():
  label = np.array([[0, 1], [255, 7]])
  assert visualize.colorize(label, PALETTE).tolist() == [
      [[255, 0, 0], [0, 0, 255]], [[0, 0, 0], [0, 0, 0]]]  # ignore and unknown ids: black
  image = np.full((2, 2, 3), 100, np.uint8)
  blended = visualize.overlay(image, label, PALETTE, alpha=0.5)
  assert blended[0, 0].tolist() == [178, 50, 50]  # (100 + 255) / 2 = 177.5 -> 178
  assert blended[1, 0].tolist() == [100, 100, 100]  # ignore: the image shows through


def test_save_examples_with_and_without_ground_truth(tmp_path):
  image = np.zeros((2, 3, 3), np.uint8)
  pred = np.zeros((2, 3), np.int64)
  [path] = visualize.save_examples(str(tmp_path / 'a'), [image], [pred], ['x'], PALETTE,
                                   labels=[pred])
  assert np.asarray(Image.open(path)).shape == (2, 12, 3)
  [path] = visualize.save_examples(str(tmp_path / 'b'), [image], [pred], ['x'], PALETTE)
  assert np.asarray(Image.open(path)).shape == (2, 9, 3)


def test_eval_curve_and_plot(tmp_path):
  with open(tmp_path / 'metrics.jsonl', 'w') as f:
    for record in ({'step': 1, 'loss': 2.0}, {'step': 2, 'eval_miou': 0.25},
                   {'step': 4, 'eval_miou': 0.5}):
      f.write(json.dumps(record) + '\n')
  curve = metric_writer.eval_curve(str(tmp_path))
  assert curve == [(2, 0.25), (4, 0.5)]
  path = visualize.plot_miou({'run': curve, 'empty': []}, str(tmp_path / 'miou.png'))
  assert Image.open(path).size == (600, 400)
