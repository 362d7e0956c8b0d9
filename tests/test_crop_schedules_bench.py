"""stseg_jax.bench (crop_schedules): the prediction math by hand, the peak table, one tiny CLI run.

No timing assertions: speed goals live in the benchmark's output.
"""
import json
import os
import subprocess
import sys

import pytest

from stseg_jax.bench import crop_schedules as bench
from stseg_jax.bench import schedule_report
from stseg_jax.bench import timing
from stseg_jax.schedules import EpochPlan

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_prediction_and_ideal_speedup_by_hand():
  # Pixel rule: batch 2 at 400, so 8 at 200. Constant: 2 epochs x 10 steps at
  # 400 = 40 images, 6.4M pixels, 20 s at 1 s/step. The other: 10 steps at 400
  # then 2 at 200 = 36 images, 3.2M + 0.64M pixels, 10 + 2 x 0.3 = 10.6 s.
  plans = {'constant': [EpochPlan(400, 2, 10)] * 2,
           'c2f': [EpochPlan(400, 2, 10), EpochPlan(200, 8, 2)]}
  step_seconds = {400: 1.0, 200: 0.3}
  totals = {n: bench.schedule_totals(p, step_seconds) for n, p in plans.items()}
  assert totals['constant'] == {'images': 40, 'pixels': 6_400_000, 'seconds': 20.0}
  assert totals['c2f'] == {'images': 36, 'pixels': 3_840_000, 'seconds': pytest.approx(10.6)}
  out = bench.speedups(totals)
  assert out['constant'] == {'ideal_speedup': 1.0, 'seconds_at_equal_images': 20.0,
                             'speedup': 1.0}
  # Per image: 160000 px vs 3.84M / 36 = 106666.7 px -> 1.5x.
  assert out['c2f']['ideal_speedup'] == pytest.approx(1.5)
  # 10.6 s for 36 images is 10.6 * 40 / 36 = 11.78 s for constant's 40.
  assert out['c2f']['seconds_at_equal_images'] == pytest.approx(10.6 * 40 / 36)
  assert out['c2f']['speedup'] == pytest.approx(720 / 424)


def test_loop_seconds_from_metric_records():
  records = [{'step': 4, 'batch_size': 8, 'images_per_sec': 16.0, 'loss': 1.0},
             {'step': 4, 'eval_miou': 0.1},  # an eval record has no rate
             {'step': 6, 'batch_size': 2, 'images_per_sec': 1.0}]
  # 4 steps x 8 / 16 = 2 s, then 2 steps x 2 / 1 = 4 s.
  assert bench.loop_seconds(records) == 6.0


def test_compile_times_count_train_step_events_only():
  times = bench.CompileTimes()
  times('/jax/core/compile/jaxpr_trace_duration', 1.0, fun_name='train_step')
  times('/jax/core/compile/backend_compile_duration', 2.0, fun_name='jit(train_step)')
  times('/jax/core/compile/backend_compile_duration', 9.0, fun_name='jit(eval_step)')
  times('/jax/core/compile/backend_compile_duration', 4.0, fun_name='jit(train_step)')
  assert times.total() == 7.0 and times.first_bucket() == 3.0


@pytest.mark.parametrize('kind,peak', [
    ('NVIDIA H100 80GB HBM3', 989e12), ('NVIDIA H100 PCIe', 756e12), ('NVIDIA H200', 989e12),
    ('NVIDIA A100-SXM4-40GB', 312e12), ('TPU v4', 275e12), ('TPU v5 lite', 197e12),
    ('cpu', None), ('TPU v5', None)])  # v5p is not in the table
def test_peak_lookup(kind, peak):
  assert timing.peak_flops(kind) == peak


def test_mfu():
  assert timing.mfu(494.5e12, 1.0, 'NVIDIA H100 80GB HBM3') == pytest.approx(0.5)
  assert timing.mfu(1e12, 0.5, 'TPU v5 lite') == pytest.approx(2e12 / 197e12)
  assert timing.mfu(1e9, 1.0, 'cpu') is None


class _Costed:
  def __init__(self, cost):
    self.cost = cost

  def cost_analysis(self):
    return self.cost


def test_flops_reads_dict_or_list_and_drops_unknown():
  assert timing.flops(_Costed({'flops': 5.0})) == 5.0
  assert timing.flops(_Costed([{'flops': 5.0}])) == 5.0  # jax before 0.4.30
  assert timing.flops(_Costed({'flops': -1.0})) is None  # what some GPU builds gave
  assert timing.flops(_Costed(None)) is None


def test_cli_writes_json_and_plot(tmp_path):
  env = dict(os.environ)
  # Unoptimised CPU code compiles faster; this test times nothing.
  env['XLA_FLAGS'] = (env.get('XLA_FLAGS', '') + ' --xla_backend_optimization_level=0'
                      ' --xla_llvm_disable_expensive_passes=true')
  proc = subprocess.run(
      [sys.executable, '-m', 'stseg_jax.bench', '--config=configs/bench_schedules.py',
       f'--workdir={tmp_path}', '--config.train.crop_sizes=(32,64)',
       '--config.train.num_epochs=4', '--config.train.warmup_epochs=1',
       '--config.data.height=64', '--config.data.width=128', '--config.data.num_train=8',
       f'--config.data.cache_dir={tmp_path}/cache', '--config.bench.image_budget=128',
       '--config.bench.timing_steps=1', '--config.bench.warmup_steps=1',
       "--config.bench.schedules=('coarse2fine+',)"],
      cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert 'trainer overhead' in proc.stdout
  assert os.path.getsize(tmp_path / 'bench.png') > 0
  result = json.load(open(tmp_path / 'bench.json'))
  assert set(result) >= {'device', 'model', 'buckets', 'plain_jax', 'schedules', 'config'}
  assert result['device']['platform'] == 'cpu'
  assert result['device']['peak_bf16_flops_per_device'] is None
  # 8 devices (conftest): batch 8 at 64, the pixel budget gives 32 at 32.
  assert [(b['crop'], b['batch_size']) for b in result['buckets']] == [(32, 32), (64, 8)]
  for row in result['buckets'] + [result['plain_jax']]:
    assert row['step_seconds'] > 0 and row['compile_seconds'] > 0
    assert row['flops_per_step'] > 0 and row['gflops_per_sec'] > 0
    # The model's count (one CPU's unoptimised HLO) against XLA's count of the
    # optimised step on 8 devices: on a CPU, no library calls hide FLOPs.
    assert 0.7 < row['flops_per_step_compiled'] / row['flops_per_step'] < 1.3
    assert row['mfu'] is None  # CPU: no peak
  assert result['plain_jax']['crop'] == 64
  assert isinstance(result['plain_jax']['trainer_overhead_percent'], float)
  assert list(result['schedules']) == ['constant', 'coarse2fine+']  # baseline added
  constant, c2f = result['schedules']['constant'], result['schedules']['coarse2fine+']
  assert constant['crops'] == [64] * 4 and c2f['crops'] == [64, 32, 64, 32]
  assert constant['ideal_speedup'] == 1.0 and constant['predicted_speedup'] == 1.0
  # 128 images per schedule: 32 an epoch; at 64 that's 4 steps of 8, at 32 one of 32.
  assert constant['images'] == c2f['images'] == 128
  assert c2f['ideal_speedup'] == pytest.approx(64**2 / ((64**2 + 32**2) / 2))
  assert c2f['predicted_speedup'] > 0 and constant['measured'] is None



def test_real_runs_measure_time_and_accuracy(tmp_path):
  """run_schedules trains constant and coarse2fine+ for real; full_eval scores each on val."""
  from configs import bench_schedules
  config = bench_schedules.get_config()
  config.data.height, config.data.width, config.data.num_train, config.data.num_val = 64, 128, 8, 8
  config.data.cache_dir = str(tmp_path / 'cache')
  config.train.crop_sizes, config.train.num_epochs, config.train.warmup_epochs = (32, 64), 4, 1
  config.eval.batch_size, config.eval.max_images = 8, 0
  config.bench.update(image_budget=128, timing_steps=1, warmup_steps=1, plain_jax=False,
                      schedules=('coarse2fine+',), run_schedules=True, full_eval=True)
  result = bench.run(config, str(tmp_path))
  for name in ('constant', 'coarse2fine+'):
    measured = result['schedules'][name]['measured']
    assert measured['eval_images'] == 8 and 0 <= measured['eval_miou'] <= 1
    assert measured['seconds'] > 0 and measured['compile_seconds'] > 0
    steps = [json.loads(l)['step'] for l in open(tmp_path / 'runs' / name / 'metrics.jsonl')
             if '"loss"' in l]
    assert steps[-1] == sum(result['schedules'][name]['steps'])
  assert result['schedules']['constant']['measured']['speedup'] == 1.0
  assert '| val mIoU |' in schedule_report.tables(result)
