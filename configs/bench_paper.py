"""The paper's crop schedule setting (Table 10) for a GPU or TPU: `stseg_jax.bench`.

  python -m stseg_jax.bench --config=configs/bench_paper.py --workdir=/tmp/bench_paper

DeepLabV3+ ResNeXt-50 (output stride 8), bf16 compute, crops 400..800 in steps
of 80 from 1024x2048 scenes, batch 16 at crop 800 and up to 64 at smaller
crops from the same pixel budget, 20 of 180 epochs warm-up at crop 800. The
step times come from random batches on the device, so only the plan's epoch
lengths use the data (synthetic scenes, never rendered here).
"""
from configs import bench_schedules


def get_config(arg='deeplabv3plus'):
  c = bench_schedules.get_config(arg)
  c.model.dtype = 'bfloat16'
  c.data.height, c.data.width = 1024, 2048
  c.data.num_train = 2975  # Cityscapes train
  c.train.crop_sizes = tuple(range(400, 801, 80))
  c.train.num_epochs = 180
  c.train.warmup_epochs = 20
  c.train.batch_size = 16
  c.train.max_batch_size = 64
  c.bench.image_budget = 0  # the plan's own epochs: 180 x 2975 crops
  c.bench.timing_steps = 10
  c.bench.warmup_steps = 3
  c.bench.compile_workers = 4
  return c
