"""The trainer's Fast-SCNN step against PyTorch's on this CPU: `stseg_jax.bench.torch_peer`.

  python -m stseg_jax.bench.torch_peer --config=configs/bench_torch.py --workdir=/tmp/peer

Batch 8 at crops 256 and 512, float32, plain cross-entropy (the torch step
has no OHEM), SGD with momentum 0.9 and weight decay 1e-4. About 4 minutes
on a 2-core CPU, most of it the crop-512 steps. Needs torch
(requirements-torch.txt).
"""
from configs import default


def get_config():
  c = default.get_config()
  c.model.name = 'fast_scnn'
  del c.model.backbone
  del c.model.output_stride
  c.loss.ohem = False
  c.train.base_lr = 0.01
  c.bench = dict(
      crops=(256, 512),
      batch_size=8,
      num_classes=19,
      warmup_steps=3,  # untimed calls of each step first
      rounds=6,  # each round times every step in turn...
      steps_per_round=2,  # ...this many calls each: medians of 12 calls
      torch_threads=0,  # 0 = one per CPU core, as XLA uses
      profile_steps=5,  # stseg_jax.bench.step_profile: steps traced per crop
  )
  return c
