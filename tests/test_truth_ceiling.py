"""The truth ceiling (config.pseudo.unlabeled_truth): the student's recipe on the
unlabeled images' true labels, the measure of what perfect pseudo labels would give."""
import numpy as np
import pytest

from configs import camvid_fraction_sweep
from configs import tiny
from stseg_jax import ablation
from stseg_jax import config_check
from stseg_jax import errors
from stseg_jax import stages
from stseg_jax import train
from stseg_jax.data import mixture
from stseg_jax.data import sources


def truth_config():
  c = tiny.get_config()
  c.pseudo.unlabeled_truth = True
  c.pseudo.ratio = 1.0
  c.pseudo.centroid_min_pixels = 3
  return c


def test_the_second_stream_is_the_unlabeled_split_with_its_own_labels():
  c = truth_config()
  real = sources.open_source(c.data, c.data.train_split)
  mix = mixture.open_mixture(c.train, c.pseudo, c.data, real, c.unlabeled)
  assert mix.second == mixture.TRUTH and (mix.num_real, mix.num_second) == (16, 16)
  truth = sources.open_source(sources.unlabeled_data_config(c.data, c.unlabeled), 'unlabeled')
  assert len(mix.sources[1]) == len(truth) == 8
  for i in (0, 7):
    np.testing.assert_array_equal(mix.sources[1][i]['label'], truth[i]['label'])
  # Sampled as the student samples its pseudo labels: their centroid share and region minimum.
  assert mix.second_class_uniform == c.pseudo.class_uniform_fraction
  assert mix.min_pixels == (c.train.centroid_min_pixels, 3)


def test_the_sweeps_ceiling_is_the_student_with_true_labels_and_no_labels_stage(tmp_path):
  c = camvid_fraction_sweep.get_config('ceiling')
  variant = ablation.variant_config(c, c.ablation.variants.ceiling, 'ceiling')
  workflow = {s.name: s for s in stages.stages(variant, str(tmp_path), teacher_items=92)}
  assert 'pseudo_label' not in workflow and 'control' not in workflow
  ceiling = workflow['student'].config
  student = stages.student_config(c, '/labels')
  assert ceiling.pseudo.unlabeled_truth and not ceiling.pseudo.dir
  # Everything the student has but its labels (and their confidence filter).
  for key in ('strong_augment', 'ratio', 'class_uniform_fraction', 'centroid_min_pixels'):
    assert ceiling.pseudo[key] == student.pseudo[key], key
  assert ceiling.train.num_epochs == student.train.num_epochs == 300
  assert not stages.control_config(ceiling).pseudo.unlabeled_truth
  config_check.validate(ceiling)


@pytest.mark.parametrize('key, value', [('dir', '/tmp/labels'), ('class_keep_fraction', 0.5),
                                        ('confidence_threshold', 0.9), ('online', True)])
def test_the_ceiling_with_a_teachers_label_setting_fails_naming_the_key(key, value):
  c = truth_config()
  c.pseudo[key] = value
  with pytest.raises(errors.ConfigError, match=f'config.pseudo.{key}'):
    config_check.validate(c)


def test_a_ceiling_run_trains_on_both_streams(tmp_path):
  state = train.train_and_evaluate(truth_config(), str(tmp_path))
  assert int(state.step) == 8  # 16 real + 16 unlabeled-with-truth crops an epoch, batch 8, 2 epochs
