"""The accuracy side of the crop-schedule claim (Table 10): `stseg_jax.bench`.

  python -m stseg_jax.bench --config=configs/bench_accuracy.py --workdir=/tmp/bench_acc

Trains Fast-SCNN on the scenes of configs/synthetic_fastscnn.py (500 train,
100 val, 384x768) with the constant crop 256 and with coarse2fine+ over crops
128..256 (the paper's 400..800, scaled to that recipe's crop), warm-up 2 of 12
epochs, both for the same 6000 images, then scores each on the whole val
split. Reports the measured speedup beside the two mIoUs. About 16 minutes on
a 2-core CPU (results in the README).
"""
from configs import bench_schedules
from configs import synthetic_fastscnn


def get_config():
  c = bench_schedules.get_config()
  recipe = synthetic_fastscnn.get_config()  # the synthetic recipe's data, loss and LR
  c.data = recipe.data
  c.data.num_workers = 0  # threads, as in bench_schedules
  c.loss = recipe.loss
  c.train.base_lr = recipe.train.base_lr
  c.train.class_uniform_fraction = recipe.train.class_uniform_fraction
  c.eval = recipe.eval
  c.eval.num_visuals = 0
  c.train.crop_sizes = (128, 160, 192, 224, 256)
  c.train.num_epochs = 12
  c.train.warmup_epochs = 2
  c.bench.schedules = ('coarse2fine+',)
  c.bench.image_budget = 12 * 500
  c.bench.run_schedules = True
  c.bench.full_eval = True
  c.bench.plain_jax = False
  return c
