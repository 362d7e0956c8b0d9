"""Step time per crop bucket and crop-schedule speedups: `stseg_jax.bench`.

  python -m stseg_jax.bench --config=configs/bench_schedules.py --workdir=/tmp/bench
  python -m stseg_jax.bench --config=configs/bench_schedules.py:deeplabv3plus \
      --config.model.backbone=resnet50 --workdir=/tmp/bench_r50
  ... --config.bench.run_schedules=True   # also train each schedule for real

The paper's crops 400..800 in steps of 80 from 1024x2048 Cityscapes images,
halved: crops 200..400 in steps of 40 from 512x1024 synthetic scenes. Batch 8
at the largest crop, smaller crops get a batch from the same pixel budget up to
4x (the paper: 16 at 800, up to 64). Warm-up: the paper's 20 of 180 epochs at
the largest crop become 2 of 18.

The argument after the colon picks the model family (`fast_scnn`, the default,
or `deeplabv3plus` / `pspnet`, which have `model.backbone` and
`model.output_stride` to override); Fast-SCNN has neither field, so they exist
only when the family has them.
"""
from configs import default
from stseg_jax import schedules


def get_config(arg='fast_scnn'):
  c = default.get_config()
  c.model.name = arg
  if arg == 'fast_scnn':
    del c.model.backbone
    del c.model.output_stride
  elif arg == 'pspnet':
    c.model.backbone = 'resnet101'

  c.data.name = 'synthetic'
  c.data.height, c.data.width = 512, 1024
  c.data.num_train, c.data.num_val = 64, 4
  # Threads, not worker processes: the pipeline starts afresh every epoch, and
  # on a small CPU worker start-up would be measured as much as the crops.
  c.data.num_workers = 0

  c.train.crop_sizes = tuple(range(200, 401, 40))
  c.train.num_epochs = 18
  c.train.warmup_epochs = 2
  c.train.batch_size = 8
  c.train.max_batch_size = 32
  # Plain cross-entropy: OHEM's sort over every pixel is a loss choice, and it
  # would count as trainer overhead against the plain-jax step.
  c.loss.ohem = False
  c.eval.max_images = 1  # each real run ends with one evaluation; keep it small

  c.bench = dict(
      schedules=tuple(schedules.SCHEDULES),  # 'constant' is the baseline, always run
      timing_steps=5,  # median over these, per bucket
      warmup_steps=2,  # untimed calls first (allocator, caches)
      # Buckets compiled at once; 1 keeps compile timings apart (and on a
      # 2-core CPU concurrent compiles only share the cores).
      compile_workers=1,
      plain_jax=True,  # also time the bare network in plain jax at the largest crop
      run_schedules=False,  # also train each schedule for real
      run_only=('',),  # with run_schedules: just these (plus constant); ('',) = all
      # With run_schedules: evaluate each run on the whole eval split (the
      # accuracy side of the claim) instead of a token batch.
      full_eval=False,
      # Images per schedule for the real runs and the prediction:
      # train.epoch_items = image_budget // train.num_epochs.
      image_budget=18 * 64,
  )
  return c
