"""The Cityscapes colour palette and label colourising, for samples and visual checks."""
import numpy as np

# Train ids 0..18 in the official Cityscapes colours.
PALETTE = np.array([
    (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153),
    (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152),
    (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70),
    (0, 60, 100), (0, 80, 100), (0, 0, 230), (119, 11, 32)], np.uint8)

# The synthetic domain B's extra ids 19 (lane marking) and 20 (crosswalk), Mapillary colours.
EXTRA_PALETTE = np.array([(255, 255, 255), (200, 128, 128)], np.uint8)

_LUT = np.zeros((256, 3), np.uint8)  # everything else, the ignore label 255 included, is black
_LUT[:len(PALETTE)] = PALETTE
_LUT[len(PALETTE):len(PALETTE) + len(EXTRA_PALETTE)] = EXTRA_PALETTE


def colorize(label):
  """uint8 (H, W, 3) colours of an integer (H, W) label map; 255 and unknown ids are black."""
  return _LUT[np.asarray(label).astype(np.uint8)]
