"""The CPU-sized twin of a paper config (big_vision's `runlocal`): `--config=FILE:...,runlocal`.

`shrink(c)` keeps what the full config runs (the job's stages, the model, the
loss, the mixture ratio, soft labels, loops, target stages, several crop
buckets) and swaps in what a CPU can do in a minute or two: synthetic scenes
of 64x128 with the Cityscapes label layout (19 classes; 21 with
`extra_classes`, which stands in for a dataset with other classes), 8 labeled
and 4 unlabeled scenes, one step per training stage, an evaluation of 2
scenes, a labelling pass over the 4 unlabeled scenes. Every twin has the same
shapes, so the XLA cache shares their compiled programs. tests/test_configs.py
runs each file's twin and each workflow's (soft labels, pre-training, loops,
targets); the other networks' and the tables' twins load but are not run.

Not kept: bf16 (XLA:CPU emulates it), the ImageNet weights (no file in CI),
the multi-scale tiled labelling (one pass; the inference tests cover scales
and tiles) and real data (the data-spec test checks the full configs' splits).
"""
import math

import ml_collections

from stseg_jax import stages

CROP = 64
BATCH = 8  # one crop per simulated device (tests/conftest.py: 8 CPU devices)


def shrink(c, domain_b=False):
  """The twin of config `c`, in place; `domain_b`: the unlabeled scenes and the
  target stages (section 3.4) are another synthetic city, the target with two
  more classes."""
  c.data = _tiny_data(c.data)
  c.unlabeled.name = c.unlabeled.root = ''
  c.unlabeled.split = 'unlabeled'
  if domain_b:
    c.unlabeled.domain = 'B'
  c.model.pretrained, c.model.dtype = '', 'float32'
  _tiny_train(c.train, BATCH)
  c.eval.batch_size, c.eval.max_images, c.eval.num_visuals = BATCH, 2, 0
  c.pseudo_label.images_per_shard = 4
  for section in (c.inference, c.pseudo_label.inference):
    section.scales, section.flip, section.tile_size = (1.0,), False, (0, 0)
  c.log_every, c.eval_every, c.checkpoint_every = 1, 1000, 1000
  # OHEM at the paper's share of a crop (100,000 of 800x800), so the twin selects pixels.
  c.loss.ohem_min_kept = min(CROP, *c.train.crop_sizes) ** 2 * 10 // 64
  student = stages.merged(c, c.student)
  # Real items that fill one batch with the pseudo (or duplicate) items the
  # ratio adds; the pre-training stage of pretrain_finetune draws pseudo ones only.
  ratio = student.pseudo.ratio
  pretrain = c.self_training.mode == 'pretrain_finetune'
  _shrink_stage(c.student, student, math.ceil(BATCH / (ratio if pretrain else ratio + 1)))
  _shrink_stage(c.finetune, stages.merged(student, c.finetune), BATCH)
  if c.target:
    c.target.data = {'domain': 'B', 'extra_classes': True, 'train_split': 'train_kshot',
                     'kshot': 1, 'kshot_min_pixels': 16}
    if 'inference' in c.target:
      c.target.inference.tile_size = (0, 0)
    _shrink_stage(c.target, stages.merged(student, c.target), BATCH)
  return c


def _tiny_data(data):
  tiny = ml_collections.ConfigDict(data.to_dict())
  tiny.update(name='synthetic', root='', height=CROP, width=2 * CROP, num_train=BATCH,
              num_val=2, num_unlabeled=4, cache_dir='', num_workers=0, resize_factor=1.0,
              resize_cache=False, train_split='train', eval_split='val', kshot=0)
  return tiny


def _tiny_train(train, items):
  """One epoch of `items` crops; two crop buckets (and a warm-up epoch) if several crops."""
  multi = len(set(train.crop_sizes)) > 1
  train.crop_sizes = (48, CROP) if multi else (CROP,)
  train.warmup_epochs = 1 if multi and train.warmup_epochs else 0
  train.num_epochs = 1 + train.warmup_epochs
  train.batch_size, train.max_batch_size = BATCH, 2 * BATCH
  train.epoch_items = items
  train.init_from = ''


def _shrink_stage(overrides, merged, items):
  """A stage's override section (student, finetune, target), shrunk as the base is."""
  if 'model' in overrides:
    overrides.model.pretrained, overrides.model.dtype = '', 'float32'
  _tiny_train(merged.train, items)
  if 'train' not in overrides:
    overrides.train = {}
  for key in ('crop_sizes', 'warmup_epochs', 'num_epochs', 'batch_size', 'max_batch_size',
              'epoch_items', 'init_from'):
    overrides.train[key] = merged.train[key]
