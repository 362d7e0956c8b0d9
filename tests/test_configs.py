"""Every config in configs/ loads, validates and builds its model, plan and data."""
import glob
import importlib
import os

import jax
import jax.numpy as jnp
import pytest

from configs import default
from stseg_jax import config_check
from stseg_jax import inference
from stseg_jax import schedules
from stseg_jax import state as state_lib
from stseg_jax.data import mixture
from stseg_jax.data import pipeline
from stseg_jax.data import sources

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(REPO, 'configs', '*.py'))
                 if not p.endswith('__init__.py'))


@pytest.mark.parametrize('name', CONFIGS)
def test_config_builds(name):
  config = importlib.import_module(f'configs.{name}').get_config()
  if config.data.name != 'synthetic' and not os.path.isdir(config.data.root):
    pytest.skip(f'{config.data.name} data not present at {config.data.root}')
  config_check.validate(config)
  source = sources.open_source(config.data, config.data.train_split)
  assert len(source) > 0
  model = state_lib.create_model(config.model, source.num_classes)
  shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 64, 64, 3)),
                                             train=False))
  assert 'params' in shapes
  plan = schedules.make_plan(config.train, sum(mixture.counts(config, len(source))),
                             jax.device_count())
  assert len(plan) == config.train.num_epochs and all(p.steps > 0 for p in plan)


def test_option_defaults_are_the_default_config():
  config = default.get_config()
  assert pipeline.AugmentOptions() == pipeline.AugmentOptions.from_config(config.augment)
  for section in (config.inference, config.pseudo_label.inference):
    assert inference.InferenceConfig() == inference.InferenceConfig.from_config(section)
