"""Benchmarks; each prints its figures and writes them as JSON into its workdir.

  python -m stseg_jax.bench ...              crop_schedules: step time per crop
                                             bucket, FLOPs, MFU, schedule speedups
  python -m stseg_jax.bench.torch_peer ...   the trainer's Fast-SCNN step against
                                             the same network in PyTorch, alternately
  python -m stseg_jax.bench.step_profile ... where a train step's time goes, per op
"""
