"""The accelerator suite (stseg_jax/bench/suite.py): its profile reduction by hand, and
every part end to end at CPU size (`--smoke`), as CI must show before a GPU is ever lent."""
import json
import os
import subprocess
import sys

import pytest

from stseg_jax import schedules
from stseg_jax.bench import suite

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_HLO = '''
ENTRY %main {
  %convolution.3 = f32[8,32,32,64]{3,2,1,0} convolution(%p0, %p1), window={size=3x3}, metadata={op_name="jit(train_step)/jvp(DeepLabV3Plus)/backbone/conv1/conv_general_dilated"}
  %fusion.7 = (f32[64]{0}, f32[64]{0}) fusion(%convolution.3), kind=kInput, metadata={op_name="jit(train_step)/jvp(DeepLabV3Plus)/backbone/BatchNorm_0/reduce_sum"}
  %custom-call.1 = f32[8,64,64,256]{3,2,1,0} custom-call(%a, %b), custom_call_target="__cudnn$convForward", metadata={op_name="jit(train_step)/jvp(DeepLabV3Plus)/aspp/x"}
  %sort.2 = f32[32768]{0} sort(%flat), dimensions={0}, metadata={op_name="jit(train_step)/jvp()/loss/ohem/sort"}
  ROOT %all-reduce.5 = f32[10]{0} all-reduce(%g), metadata={op_name="jit(train_step)/psum"}
  %fusion.9 = f32[8,128,128,19]{3,2,1,0} fusion(%l), kind=kLoop, metadata={op_name="jit(train_step)/jvp(DeepLabV3Plus)/resize/dot_general"}
  %add.4 = f32[10]{0} add(%p, %u), metadata={op_name="jit(train_step)/add"}
}
'''


def test_profile_reduction_by_hand():
  ops = suite.hlo_ops(_HLO)
  assert ops['convolution.3'][0] == 'convolution' and ops['fusion.7'][0] == 'fusion'
  cats = {name: suite.category(*op) for name, op in ops.items()}
  assert cats == {'convolution.3': 'convolution', 'fusion.7': 'batch_norm',
                  'custom-call.1': 'convolution', 'sort.2': 'ohem_selection',
                  'all-reduce.5': 'collective', 'fusion.9': 'resize',
                  'add.4': 'optimizer_and_other'}
  times = {'convolution.3': 6e6, 'fusion.7': 3e6, 'sort.2': 1e6}  # ns
  reduced = suite.top_ops(times, ops, top=2)
  assert [r['op'] for r in reduced['top_ops']] == ['convolution.3', 'fusion.7']
  assert reduced['device_ms'] == 10.0 and reduced['top_ops'][0]['share'] == 0.6
  assert reduced['categories']['ohem_selection'] == {'ms': 1.0, 'share': 0.1}


def test_untimed_buckets_come_from_a_line_in_pixels():
  # 0.1 s fixed + 1 ns per pixel, timed at crops 800 (batch 16) and 720 (batch 19).
  rows = [{'crop': c, 'batch_size': b, 'step_seconds': 0.1 + 1e-9 * b * c * c}
          for c, b in ((800, 16), (720, 19))]
  bucket = schedules.EpochPlan(400, 64, 1)
  predicted = suite.fit_step_seconds(rows, [bucket])
  assert abs(predicted[400] - (0.1 + 1e-9 * 64 * 400 * 400)) < 1e-9


@pytest.mark.alone  # each part runs under a time cap
def test_every_part_runs_at_cpu_size(tmp_path):
  out = subprocess.run(
      [sys.executable, '-m', 'stseg_jax.bench.suite', '--config=configs/bench_suite.py',
       f'--workdir={tmp_path}', '--smoke'], cwd=REPO, capture_output=True, text=True,
      timeout=1500)
  assert out.returncode == 0, out.stderr[-3000:]
  result = json.load(open(tmp_path / 'suite.json'))
  assert {p: s['outcome'] for p, s in result['status'].items()} == dict.fromkeys(suite.PARTS,
                                                                                   'done')
  assert result['device']['jax'] and 'xla_flags' in result['device']
  step = result['parts']['step']['fast_scnn']
  assert step['step_seconds'] > 0 and step['images_per_sec'] > 0 and step['flops_per_step'] > 0
  profile = result['parts']['profile']
  assert profile['top_ops'] and abs(sum(c['share'] for c in profile['categories'].values()) - 1) < 1e-6
  assert 'convolution' in profile['categories'] and 'batch_norm' in profile['categories']
  assert result['parts']['schedules']['crops_timed'] == [48, 64]
  assert result['parts']['schedules']['speedups']['coarse2fine+']['speedup'] > 0
  assert result['parts']['inference']['images_per_sec_per_device'] > 0
