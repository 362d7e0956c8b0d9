"""`python -m stseg_jax.bench`: the crop-schedule benchmark (see crop_schedules.py)."""
from stseg_jax import cli
from stseg_jax.bench import crop_schedules

if __name__ == '__main__':
  cli.run(crop_schedules.run, 'Where bench.json, bench.png and runs/ go.')
