"""stseg_jax.bench.torch_peer and step_profile: one tiny CLI run each, and the trace join."""
import json
import os
import subprocess
import sys

import pytest

from stseg_jax.bench import step_profile

_TINY = ['--config=configs/bench_torch.py', '--config.bench.crops=(64,)',
         '--config.bench.batch_size=2', '--config.bench.warmup_steps=1']


def _run(module, workdir, *extra):
  out = subprocess.run([sys.executable, '-m', module, f'--workdir={workdir}', *_TINY, *extra],
                       capture_output=True, text=True, check=False)
  assert out.returncode == 0, out.stderr[-3000:]
  return out.stdout


def test_torch_peer_times_the_same_network_in_turns(tmp_path):
  pytest.importorskip('torch')
  stdout = _run('stseg_jax.bench.torch_peer', tmp_path, '--config.bench.rounds=1',
                '--config.bench.steps_per_round=1')
  result = json.load(open(tmp_path / 'torch_peer.json'))
  row, = result['rows']
  assert row['parameters'] == 1_137_795  # checked equal on both sides by the bench
  assert set(row['median_seconds']) == {'trainer', 'plain_jax', 'torch_nchw',
                                        'torch_channels_last'}
  assert row['speedup_over_torch'] == pytest.approx(
      row['median_seconds'][row['torch_peer']] / row['median_seconds']['trainer'])
  assert '| 64 x 2 |' in stdout


def test_step_profile_attributes_ops_to_modules(tmp_path):
  stdout = _run('stseg_jax.bench.step_profile', tmp_path, '--config.bench.profile_steps=2')
  row, = json.load(open(tmp_path / 'step_profile.json'))['rows']
  assert row['total_ms'] > 0
  assert any(m.startswith('FastSCNN/GlobalFeatureExtractor_0') for m in row['by_module_ms'])
  assert any(p.startswith('backward ') for p in row['by_primitive_ms'])
  assert os.path.isdir(tmp_path / 'trace_64')
  assert 'ms of ops per step' in stdout


def test_describe_splits_op_names():
  name = ('jit(train_step)/transpose(jvp(FastSCNN))/GlobalFeatureExtractor_0/'
          'Bottleneck_0/ConvBN_0/Conv_0/transpose')
  assert step_profile.describe(name) == (
      'backward', 'transpose', 'FastSCNN/GlobalFeatureExtractor_0/Bottleneck_0')
  assert step_profile.describe('jit(train_step)/jvp(FastSCNN)/ConvBN_0/Conv_0/conv_general_dilated') \
      == ('forward', 'conv_general_dilated', 'FastSCNN/ConvBN_0/Conv_0')
  assert step_profile.describe('') == ('forward', '(no metadata)', '')
