"""The accelerator suite: `python -m stseg_jax.bench.suite` (stseg_jax/bench/suite.py).

  python -m stseg_jax.bench.suite --config=configs/bench_suite.py --workdir=W   # one GPU, <= 8 min
  python -m stseg_jax.bench.suite --config=configs/bench_suite.py --workdir=W --smoke  # CPU, CI

DeepLabV3+ ResNeXt-50 and ResNet-50 (output stride 8, bf16 compute, 19
classes) at crop 800, batch 16 (configs/bench_paper.py); the profile of the
first; the paper's crop buckets 400..800 for the schedules (epochs of 2,975
crops, Cityscapes train); labelling throughput at 1024x2048 with the paper's
recipe (scales 0.5, 1, 2, flipped, 1024 tiles). Caps per part sum to 8 minutes.
"""
import ml_collections

from configs import bench_paper


def get_config():
  c = bench_paper.get_config()
  c.train.crop_sizes = (800,)
  c.train.warmup_epochs = 0
  c.pseudo_label.inference.scales = (0.5, 1.0, 2.0)
  c.pseudo_label.inference.flip = True
  c.pseudo_label.inference.tile_size = (1024, 1024)
  c.suite = ml_collections.ConfigDict({
      'parts': ('step', 'profile', 'inference', 'schedules'),  # the schedules take what is left
      'models': ('deeplabv3plus:resnext50_32x4d', 'deeplabv3plus:resnet50'),
      'num_classes': 19,
      'profile_steps': 3,
      'profile_top': 25,
      'schedule_crops': tuple(range(400, 801, 80)),
      'schedule_epoch_items': 2975,
      'schedule_margin_seconds': 30,  # stop starting buckets this long before the cap
      'inference_size': (1024, 2048),
      'inference_images': 2,
      # Seconds per part, each in its own process: 8 minutes in all. One bucket of
      # DeepLabV3+ compiled in ~80 s on an H200 (autotuning included); the parts
      # share the XLA cache, so the profile's step is a cache hit.
      'part_seconds': {'step': 180, 'profile': 60, 'inference': 80, 'schedules': 160},
      # --smoke: every part at CPU size (Fast-SCNN, crops 48 and 64), in CI.
      'smoke': {
          'model': {'dtype': 'float32'},
          'train': {'crop_sizes': (64,), 'batch_size': 8, 'max_batch_size': 16},
          'loss': {'ohem_min_kept': 500},
          'bench': {'timing_steps': 2, 'warmup_steps': 1, 'compile_workers': 1},
          'pseudo_label': {'inference': {'tile_size': (64, 64), 'scales': (0.5, 1.0)}},
          'suite': {'models': ('fast_scnn',), 'schedule_crops': (48, 64),
                    'schedule_epoch_items': 64, 'profile_steps': 2, 'inference_size': (64, 128),
                    'inference_images': 1,
                    'part_seconds': {'step': 300, 'profile': 300, 'schedules': 300,
                                     'inference': 300}},
      },
  })
  return c
