"""Every config in configs/ loads and builds; every paper config's CPU twin runs.

- CPU configs (demo, synthetic, CamVid, benches): validated, source opened,
  model shapes, epoch plan.
- Paper configs (configs/README.md): every argument of every file, at full
  scale, without data or weights: each stage the job would run (teacher,
  labelling, student, pre-training, finetuning, target) validates, builds its
  model (jax.eval_shape), its data spec (classes, split sizes, crop against
  image size, the batch of every crop bucket) and its epoch plan.
- Their `:runlocal` twins run for real through the job's entry point: one
  step per training stage, its evaluation, and a labelling pass.
- Every config path written in launch/ and the READMEs exists and loads.
"""
import functools
import glob
import importlib
import json
import os
import re

import jax
import jax.numpy as jnp
import ml_collections
import pytest

from configs import default
from stseg_jax import ablation
from stseg_jax import config_check
from stseg_jax import errors
from stseg_jax import inference
from stseg_jax import models
from stseg_jax import schedules
from stseg_jax import self_train
from stseg_jax import sharding
from stseg_jax import stages
from stseg_jax import train
from stseg_jax import train_state
from stseg_jax.data import camvid
from stseg_jax.data import cityscapes
from stseg_jax.data import mixture
from stseg_jax.data import pipeline
from stseg_jax.data import sources

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _module(name):
  return importlib.import_module(f'configs.{name}')


_NAMES = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(REPO, 'configs', '*.py'))
                if not p.endswith('__init__.py'))
# The paper's experiments: each lists its arguments in VARIANTS.
PAPER = [n for n in _NAMES if hasattr(_module(n), 'VARIANTS')]
CPU_CONFIGS = [n for n in _NAMES if n not in PAPER and hasattr(_module(n), 'get_config')]
PAPER_VARIANTS = [(n, v) for n in PAPER for v in _module(n).VARIANTS]


@pytest.mark.parametrize('name', CPU_CONFIGS)
def test_config_builds(name):
  config = _module(name).get_config()
  if config.data.name != 'synthetic' and not os.path.isdir(config.data.root):
    pytest.skip(f'{config.data.name} data not present at {config.data.root}')
  config_check.validate(config)
  source = sources.open_source(config.data, config.data.train_split)
  assert len(source) > 0
  model = models.from_config(config.model, source.num_classes)
  shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 64, 64, 3)),
                                             train=False))
  assert 'params' in shapes
  plan = schedules.make_plan(config.train, sum(mixture.counts(config.train, config.pseudo, len(source))),
                             jax.device_count())
  assert len(plan) == config.train.num_epochs and all(p.steps > 0 for p in plan)


def test_option_defaults_are_the_default_config():
  config = default.get_config()
  assert pipeline.AugmentOptions() == pipeline.AugmentOptions.from_config(config.augment)
  for section in (config.inference, config.pseudo_label.inference):
    assert inference.InferenceConfig() == inference.InferenceConfig.from_config(section)


# --- Paper configs at full scale, without data -------------------------------

# What the datasets hold, from their documentation (data/*.py): classes, images
# per split, longest image side (None: sizes vary beyond a bound).
DATASETS = {
    'cityscapes': (cityscapes.NUM_CLASSES, {'train': 2975, 'val': 500}, 2048),
    'cityscapes_tfds': (cityscapes.NUM_CLASSES, {'train': 2975, 'val': 500}, 2048),
    'cityscapes_coarse': (cityscapes.NUM_CLASSES, {'train_extra': 19998}, 2048),
    'mapillary': (65, {'train': 18000, 'training': 18000, 'val': 2000}, None),  # v1.2 config.json
    'bdd100k': (cityscapes.NUM_CLASSES, {'train': 7000, 'val': 1000}, 1280),
    'camvid': (camvid.NUM_CLASSES, {'train': 367, 'val': 101, 'test': 233}, 480),
    'kitti': (cityscapes.NUM_CLASSES, {'train': 160, 'val': 40, 'all': 200}, 1242),
}


def _data_spec(data):
  """(classes, images) of data's train split, and its longest side after resizing."""
  classes, splits, side = DATASETS[data.name]
  split = data.train_split
  if split.endswith('_kshot'):
    images = data.kshot * classes  # at most: images can hold several classes
    split = split[:-len('_kshot')]
  elif split.endswith('_labeled'):
    split = split[:-len('_labeled')]
    images = round(data.labeled_fraction * splits[split])
  else:
    images = splits[split]
  assert split in splits, f'{data.name} has no split {split!r}'
  assert data.eval_split in splits, f'{data.name} has no split {data.eval_split!r}'
  return classes, images, side and side * data.resize_factor


def _stages(config):
  """(name, config) of every training stage the config's job runs (stseg_jax/stages.py)."""
  if 'student' not in config or not (config.student or config.target):
    return [('train', config)]
  return [(s.name, s.config) for s in stages.stages(config, '/w', teacher_items=8)
          if s.kind == stages.TRAIN]


@functools.lru_cache(maxsize=None)
def _param_shapes(model_json, num_classes):
  model = models.from_config(ml_collections.ConfigDict(json.loads(model_json)), num_classes)
  return jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 64, 64, 3)),
                                           train=False))


def _with_stand_ins(config, tmp_path):
  """A copy whose data roots and weight file exist (empty): what validate checks first."""
  config = ml_collections.ConfigDict(config.to_dict())
  if config.model.pretrained:
    weights = tmp_path / 'weights.npz'
    weights.touch()
    config.model.pretrained = str(weights)
  if config.data.name != 'synthetic':
    config.data.root = str(tmp_path)
  return config


def _check_stage(stage, tmp_path):
  if stage.model.pretrained and not os.path.isfile(stage.model.pretrained):
    # A missing ImageNet file stops the run at start-up, in one line.
    with pytest.raises(errors.ConfigError, match=r'^config\.model\.pretrained: no file'):
      config_check.validate(stage)
  config_check.validate(_with_stand_ins(stage, tmp_path))
  classes, images, side = _data_spec(stage.data)
  config_check.check_crop_fits(stage, side, stage.data.train_split)
  shapes = _param_shapes(json.dumps(stage.model.to_dict(), sort_keys=True), classes)
  assert shapes['params'], stage.model
  second = mixture.second_stream(stage.pseudo)
  items = sum(mixture.counts(stage.train, stage.pseudo, images, second))
  soft_k = stage.pseudo_label.soft_topk if stage.pseudo.soft else 0
  mesh = sharding.make_mesh()
  for devices in (jax.device_count(), 16):  # the test's 8 CPU devices, and a 16-chip slice
    plan = schedules.make_plan(stage.train, items, devices)
    assert len(plan) == stage.train.num_epochs and all(p.steps > 0 for p in plan)
  for p in {p.crop: p for p in plan}.values():
    spec = train.batch_spec(p.batch_size, p.crop, mesh, soft_k)
    assert spec['image'].shape == (p.batch_size, p.crop, p.crop, 3)
  return plan


@pytest.mark.parametrize('name,arg', PAPER_VARIANTS)
def test_paper_config_builds_at_full_scale(name, arg, tmp_path):
  config = _module(name).get_config(arg)
  assert config.data.name != 'synthetic', 'a full-scale config trains on real data'
  runs = [config]
  if 'ablation' in config:
    runs += [ablation.variant_config(config, overrides, variant)
             for variant, overrides in config.ablation.variants.items()]
    assert len(config.ablation.seeds) == 5  # the paper averages five runs
  for run in runs:
    for _, stage in _stages(run):
      _check_stage(stage, tmp_path)


def _labelling_cases():
  return [(name, arg) for name, arg in PAPER_VARIANTS
          if 'student' in _module(name).get_config(arg)
          and _module(name).get_config(arg).student]


@pytest.mark.parametrize('name,arg', _labelling_cases())
def test_the_unlabeled_set_exists_and_the_teacher_labels_it_in_its_own_classes(name, arg):
  """pseudo_label.run builds the teacher for its training data's classes (the
  unlabeled set's own labels, e.g. Mapillary's 65, are never read)."""
  config = _module(name).get_config(arg)
  unlabeled = config.unlabeled.name or config.data.name
  assert config.unlabeled.split in DATASETS[unlabeled][1]


def test_a_student_of_another_network_gets_its_own_model_section():
  config = _module('cityscapes_students').get_config('ratio7,fast_scnn')
  student = stages.student_config(config, '/labels', '/teacher')
  assert student.model.to_dict() == {'name': 'fast_scnn', 'pretrained': '', 'dtype': 'bfloat16'}
  same = _module('cityscapes_students').get_config('ratio7,teacher_b')
  assert stages.student_config(same, '/l').model.backbone == 'resnext50_32x4d'


def test_unknown_argument_names_the_file_and_the_tokens():
  with pytest.raises(ValueError, match=r'cityscapes_teacher\.py:resnet9: unknown'):
    _module('cityscapes_teacher').get_config('resnet9')


# --- The CPU twins, run for real ---------------------------------------------

def _twin(name, arg):
  config = _module(name).get_config(f'{arg},runlocal' if arg else 'runlocal')
  assert config.data.name == 'synthetic' and not config.model.pretrained
  return config


@pytest.fixture(scope='module')
def teacher_twin(tmp_path_factory):
  """The Cityscapes teacher's twin, trained once: the start of the finetuning twins."""
  workdir = str(tmp_path_factory.mktemp('cityscapes_teacher'))
  train.train_and_evaluate(_twin('cityscapes_teacher', ''), workdir)
  return workdir


def _eval_of(workdir):
  with open(os.path.join(workdir, 'eval.json')) as f:
    return json.load(f)


def test_teacher_twin_trains_and_evaluates(teacher_twin):
  result = _eval_of(teacher_twin)
  assert result['checkpoint_step'] == 1 and 0 <= result['miou'] <= 1


@pytest.mark.parametrize('name,arg', [
    ('camvid_kitti_finetune', 'camvid'),  # (kitti: the same path, built above, not run)
    ('mapillary_bdd100k_fast', 'mapillary'),
])
def test_train_twin_runs(name, arg, teacher_twin, tmp_path):
  config = _twin(name, arg)
  if name == 'camvid_kitti_finetune':
    config.train.init_from = teacher_twin  # what the full config starts from
  train.train_and_evaluate(config, str(tmp_path))
  plan = schedules.make_plan(config.train, config.train.epoch_items, jax.device_count())
  assert _eval_of(str(tmp_path))['checkpoint_step'] == sum(p.steps for p in plan)
  if name == 'mapillary_bdd100k_fast':
    assert len({p.crop for p in plan}) == 2  # the fast schedule's buckets, warm-up first


@pytest.mark.parametrize('name,arg,stages', [
    ('cityscapes_students', '', ('teacher', 'labels', 'student')),
    ('cityscapes_fast_schedules', '', ('teacher', 'labels', 'student')),
    ('cityscapes_soft_pretrain_loops', 'soft', ('labels', 'student')),
    ('cityscapes_soft_pretrain_loops', 'pretrain_finetune', ('student_pretrain', 'student')),
    ('cityscapes_soft_pretrain_loops', 'loops2',
     ('labels_1', 'student_1', 'labels_2', 'student_2')),
    ('crossdomain_kshot', '', ('target_from_teacher', 'target_from_student')),
])
def test_self_train_twin_runs(name, arg, stages, tmp_path):
  config = _twin(name, arg)
  report = self_train.run(config, str(tmp_path))
  for stage in stages:
    assert os.path.exists(os.path.join(tmp_path, stage, 'DONE')), stage
  labels = 'labels_1' if config.self_training.loops > 1 else 'labels'
  manifest = os.path.join(tmp_path, labels, 'pseudo', 'pseudo.manifest.json')
  with open(manifest) as f:
    assert sum(s['records'] for s in json.load(f)['shards']) == config.data.num_unlabeled
  assert 0 <= report['student']['miou'] <= 1
  if config.target:
    assert set(report['target']) >= {'target_from_teacher', 'target_from_student'}


# --- Config paths named in launch/ and the READMEs ---------------------------

_DOCS = sorted(glob.glob(os.path.join(REPO, 'launch', '*')) +
               [os.path.join(REPO, 'README.md'), os.path.join(REPO, 'configs', 'README.md')])
_CONFIG_PATH = re.compile(r'configs/([A-Za-z0-9_]+)\.py(?::([A-Za-z0-9_,+]+))?')


def _named_configs():
  found = set()
  for path in _DOCS:
    with open(path) as f:
      found.update((os.path.relpath(path, REPO),) + m.groups() for m in
                   _CONFIG_PATH.finditer(f.read()))
  return sorted(found, key=str)


def test_the_docs_name_configs():
  assert {os.path.join('launch', 'slurm.sbatch'), 'README.md', os.path.join(
      'configs', 'README.md')} <= {doc for doc, _, _ in _named_configs()}


@pytest.mark.parametrize('doc,name,arg', _named_configs())
def test_every_config_named_in_launch_and_readmes_exists(doc, name, arg):
  assert os.path.isfile(os.path.join(REPO, 'configs', f'{name}.py')), f'{doc}: configs/{name}.py'
  module = _module(name)
  if hasattr(module, 'get_config'):
    assert module.get_config(arg) if arg else module.get_config()


@pytest.mark.parametrize('name', PAPER)
def test_paper_config_docstrings_give_the_launch_commands(name):
  doc = _module(name).__doc__
  for needed in ('launch/tpu_pod.sh', 'launch/slurm.sbatch', f'configs/{name}.py', 'runlocal'):
    assert needed in doc, f'configs/{name}.py: its docstring does not name {needed}'
