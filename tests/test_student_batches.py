"""What a student's batches carry: second-stream flags, strong augmentation, CutMix; the baseline's
sampling; the gates' plateau by hand."""
import ml_collections
import numpy as np

from stseg_jax import gates
from stseg_jax import self_train
from stseg_jax import stages
from stseg_jax.data import augment
from stseg_jax.data import mixture
from stseg_jax.data import pipeline
from test_train import tiny_config


class _Source:
  """n items whose image is filled with its index and label with its index mod 7."""

  def __init__(self, n, offset=0):
    self.n, self.offset = n, offset

  def __len__(self):
    return self.n

  def __getitem__(self, i):
    v = self.offset + i
    return {'image': np.full((40, 40, 3), v, np.uint8), 'label': np.full((40, 40), v % 7, np.uint8),
            'id': str(v)}


def _batches(second_options=None):
  items = [(0, 0, None), (1, 0, None), (1, 1, None), (0, 1, None)]
  plain = pipeline.AugmentOptions(scale_range=(1.0, 1.0), flip=False, blur_prob=0.0,
                                  color_jitter=0.0, center_jitter=0.0)
  return list(pipeline.train_epoch((_Source(2), _Source(2, offset=100)), items, crop=32,
                                   global_batch=4, seed=0, epoch=0, options=plain,
                                   second_sources=(1,), second_options=second_options))


def test_crops_are_flagged_by_their_source():
  batch, = _batches()
  np.testing.assert_array_equal(batch['second'], [0, 1, 1, 0])


def test_cutmix_pastes_boxes_between_second_stream_crops_only():
  mixing = pipeline.AugmentOptions(scale_range=(1.0, 1.0), flip=False, blur_prob=0.0,
                                   color_jitter=0.0, center_jitter=0.0, cutmix_prob=1.0)
  batch, = _batches(mixing)
  # Real crops (rows 0, 3) untouched; pseudo crops 100 and 101 hold each other's box.
  assert set(np.unique(batch['image'][0])) == {0} and set(np.unique(batch['image'][3])) == {1}
  assert set(np.unique(batch['image'][1])) <= {100, 101} and 101 in batch['image'][1]
  assert set(np.unique(batch['image'][2])) <= {100, 101} and 100 in batch['image'][2]
  # The label moves with the image: 100 -> 100 % 7 = 2, 101 -> 3.
  np.testing.assert_array_equal(batch['label'][1] == 3, batch['image'][1][..., 0] == 101)


def test_grayscale_makes_channels_equal():
  image = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
  out, _ = augment.augment(image, np.zeros((20, 30), np.uint8), np.random.default_rng(0),
                           (16, 16), grayscale_prob=1.0, color_jitter=0.0, blur_prob=0.0)
  assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])


def test_duplicate_real_baseline_samples_as_the_teacher_does():
  config = tiny_config()
  config.train.class_uniform_fraction = 0.0
  config.pseudo.class_uniform_fraction = 1.0
  assert mixture.second_class_uniform(config.train, config.pseudo) == 1.0
  config.pseudo.duplicate_real = True
  assert mixture.second_class_uniform(config.train, config.pseudo) == 0.0


def test_the_control_differs_from_the_student_in_the_labels_alone():
  config = tiny_config()
  config.pseudo.strong_augment = True
  config.pseudo.class_keep_fraction = 0.5
  student = stages.student_config(config, '/labels', '/teacher')
  control = stages.control_config(student)
  assert student.pseudo.dir == '/labels' and control.pseudo.dir == ''
  assert control.pseudo.duplicate_real and not student.pseudo.duplicate_real
  # The repeated real stream is drawn as many times and augmented as strongly.
  assert mixture.counts(control.train, control.pseudo, 10, mixture.DUPLICATE_REAL) == \
      mixture.counts(student.train, student.pseudo, 10, mixture.PSEUDO)
  strong = pipeline.second_stream_augment_options(student.augment, student.pseudo)
  assert strong is not None and strong.cutmix_prob > 0
  assert pipeline.second_stream_augment_options(control.augment, control.pseudo) == strong
  assert mixture.second_stream(control.pseudo) == mixture.DUPLICATE_REAL


def test_student_from_teacher_starts_from_its_weights():
  config = tiny_config()
  config.self_training.student_from_teacher = True
  student = stages.student_config(config, '/labels', '/teacher')
  assert student.train.init_from == '/teacher' and student.pseudo.dir == '/labels'


def test_plateau_by_hand():
  # Evals at 100..600: the last third starts at step 400 (mIoU 0.50); 0.505 at the end.
  curve = [(100, 0.2), (200, 0.4), (300, 0.48), (400, 0.50), (500, 0.51), (600, 0.505)]
  assert abs(gates.plateau(curve) - 0.5) < 1e-9
  assert gates.plateau(curve[:1]) is None
  assert gates.plateau([(160, 0.2), (320, 0.26)]) is None  # one eval in the last third
  oracle = stages.oracle_config(ml_collections.ConfigDict(
      {'data': {'train_split': 'train_labeled'}, 'train': {'epoch_items': 0},
       'self_training': {'oracle_split': 'train'}}), 92)
  assert oracle.data.train_split == 'train' and oracle.train.epoch_items == 92
