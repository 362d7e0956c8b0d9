"""What the paper's experiment configs share: paths, the models of Table 3, section 4.2's recipe.

Not a config itself (no get_config). The experiment configs (configs/README.md
maps them onto the paper's tables) start from `cityscapes()`, the Cityscapes
teacher's recipe, and change what their table changes.

Paths, expanded on the host that loads the config (every host of a pod does):
  DATA/cityscapes, DATA/mapillary, DATA/bdd100k, DATA/camvid, DATA/kitti   the datasets
  WEIGHTS/<backbone>.npz   ImageNet backbones, converted once (see `model`)
  RUNS/<config>[_<arg>]    the workdirs the docstrings' commands write, which
                           later configs start from (train.init_from)
Any of them is one override away: `--config.data.root=...`,
`--config.model.pretrained=...`, `--config.train.init_from=...`.
"""
import os

import ml_collections

from configs import default

DATA = os.path.expanduser('~/data')
WEIGHTS = os.path.expanduser('~/weights')
RUNS = os.path.expanduser('~/runs')

# The paper's networks (Table 3): model fields, and the ImageNet weights the
# backbone starts from. Each .npz comes from a torchvision/timm/NVIDIA .pth,
# converted once on any machine with torch:
#   python -m stseg_jax.models.convert_torch IN.pth WEIGHTS/<name>.npz
# (config_check stops a run at start-up, in one line, when the file is missing).
MODELS = {
    # Teacher A and the ablations' network. torchvision's resnext50_32x4d
    # ImageNet weights (IMAGENET1K_V1).
    'resnext50': {'name': 'deeplabv3plus', 'backbone': 'resnext50_32x4d', 'output_stride': 8,
                  'pretrained': 'resnext50_32x4d.npz'},
    # The heavier student and teacher B: NVIDIA semantic-segmentation's
    # ImageNet WideResNet-38 (wider_resnet38.pth.tar).
    'wideresnet38': {'name': 'deeplabv3plus', 'backbone': 'wideresnet38', 'output_stride': 8,
                     'pretrained': 'wideresnet38.npz'},
    # torchvision's resnet101 ImageNet weights (IMAGENET1K_V1).
    'pspnet': {'name': 'pspnet', 'backbone': 'resnet101', 'output_stride': 8,
               'pretrained': 'resnet101.npz'},
    # From scratch: Fast-SCNN has no ImageNet backbone (its baseline [49] trains without one).
    'fast_scnn': {'name': 'fast_scnn', 'pretrained': ''},
}


def model(name):
  """config.model of MODELS[name]: bf16 compute (the paper does not say; bf16 is what
  the H200 figures were measured with and what a TPU computes in), params float32."""
  fields = dict(MODELS[name], dtype='bfloat16')
  if fields['pretrained']:
    fields['pretrained'] = os.path.join(WEIGHTS, fields['pretrained'])
  return ml_collections.ConfigDict(fields)


def arg_tokens(arg, known, file):
  """The comma-separated tokens of a config argument, each checked against `known`."""
  tokens = [t for t in arg.split(',') if t]
  bad = [t for t in tokens if t not in known]
  if bad:
    raise ValueError(f'configs/{file}:{arg}: unknown {bad}; the tokens are {sorted(known)}')
  return tokens


def cityscapes(model_name='resnext50'):
  """The Cityscapes teacher of section 4.2: DeepLabV3+ ResNeXt-50 on the 2975 fine
  train images, scored on the 500 val images.

  configs/default.py already holds the paper's values (SGD, LR 0.02 poly 0.9,
  momentum 0.9, weight decay 1e-4, batch 16, scale 0.5-2.0, flip, blur,
  colour jitter 0.1, OHEM); this sets the data, the network and the length.
  """
  c = default.get_config()
  c.model = model(model_name)
  c.data.name = 'cityscapes'
  c.data.root = os.path.join(DATA, 'cityscapes')
  c.data.train_split, c.data.eval_split = 'train', 'val'
  # Grain worker processes per host: 16 crops of 2048x1024 PNGs every ~0.2 s
  # on one H200 need several cores to decode (the paper does not say).
  c.data.num_workers = 8
  c.train.crop_sizes = (800,)
  c.train.num_epochs = 180
  c.train.batch_size = 16
  c.train.max_batch_size = 64
  c.train.base_lr = 0.02
  # The paper scores val single-scale whole images (multi-scale, flips and
  # tiles only for the test submission, Table 6): configs/default.py's c.inference.
  c.eval.batch_size = 8
  steps_per_epoch = 2975 // 16
  c.eval_every = 20 * steps_per_epoch  # 9 scores on the way, and the last step's
  c.checkpoint_every = 5 * steps_per_epoch
  c.log_every = 50
  return c


def teacher_labels(c):
  """How the teacher labels the unlabeled images: the paper's test-time recipe
  (scales 0.5, 1.0, 2.0 and flips). Tiles of 1024 (the paper does not give a
  size): at scale 2.0 a 2048x1024 image becomes 4096x2048, which at output
  stride 8 does not fit a 16 GB TPU chip whole."""
  c.pseudo_label.inference.scales = (0.5, 1.0, 2.0)
  c.pseudo_label.inference.flip = True
  c.pseudo_label.inference.tile_size = (1024, 1024)
  return c


def fast_schedule(train, schedule='coarse2fine+', warmup=True):
  """Section 3.3 on a config.train (or a student's train overrides): crops 400..800
  in steps of 80, batch 16 at 800 and up to 64 at smaller crops from the same
  pixels, and (Table 4) 20 epochs at crop 800 first."""
  train.crop_sizes = tuple(range(400, 801, 80))
  train.schedule = schedule
  train.batch_size = 16
  train.max_batch_size = 64
  train.warmup_epochs = 20 if warmup else 0
  return train
