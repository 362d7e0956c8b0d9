"""Benchmarks; each prints its figures, and those with a workdir write them there as JSON.

  python -m stseg_jax.bench ...              crop_schedules.py: step time per crop
                                             bucket, FLOPs, MFU, schedule speedups
  python -m stseg_jax.bench.torch_peer ...   the trainer's Fast-SCNN step against
                                             the same network in PyTorch, alternately
  python -m stseg_jax.bench.step_profile ... where a train step's time goes, per op
  python -m stseg_jax.bench.pipeline ...     input pipeline: augmented crops per second
  python -m stseg_jax.bench.inference ...    inference.Predictor: images per second

timing.py holds what they share (random batches, median step times, FLOPs,
MFU, the plain-jax step); schedule_report.py prints and plots crop_schedules'
results; torch_fast_scnn.py is the PyTorch peer network.
"""
