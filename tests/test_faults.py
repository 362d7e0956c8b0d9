"""Faults during training: SIGTERM (preemption), divergence to NaN."""
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from stseg_jax import checkpoints
from stseg_jax import optim
from stseg_jax import sharding
from stseg_jax import train
from test_train import relative_error, tiny_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OVERRIDES = ['--config.data.height=64', '--config.data.width=128', '--config.data.num_train=16',
             '--config.data.num_val=8', '--config.data.num_workers=0',
             '--config.train.crop_sizes=(64,)', '--config.train.epoch_items=16',
             '--config.train.num_epochs=20', '--config.eval.batch_size=8', '--config.log_every=1',
             '--config.eval_every=1000', '--config.checkpoint_every=1000']


def _config():
  config = tiny_config()
  config.train.num_epochs = 20  # 40 steps
  config.eval_every = config.checkpoint_every = 1000
  return config


def _restored_params(workdir):
  model = train.create_model(_config().model, 19)
  state = train.create_train_state(model, optim.sgd_direction(), jax.random.key(0),
                                   sharding.make_mesh())
  mngr = checkpoints.manager(workdir)
  return mngr.latest_step(), checkpoints.restore(mngr, checkpoints.abstract(state)).params


def _train_cli(workdir):
  return subprocess.Popen(
      [sys.executable, '-m', 'stseg_jax.train', '--config=configs/demo.py',
       f'--workdir={workdir}', *OVERRIDES], cwd=REPO, stdout=subprocess.PIPE,
      stderr=subprocess.STDOUT, text=True)


def test_sigterm_checkpoints_exits_cleanly_and_resumes_exactly(tmp_path):
  workdir = str(tmp_path / 'preempted')
  proc = _train_cli(workdir)
  metrics = os.path.join(workdir, 'metrics.jsonl')
  deadline = time.time() + 300
  while time.time() < deadline and not (os.path.exists(metrics) and
                                        sum(1 for _ in open(metrics)) >= 3):
    time.sleep(0.05)
  proc.send_signal(signal.SIGTERM)
  log, _ = proc.communicate(timeout=300)
  assert proc.returncode == 0, log[-3000:]
  assert 'SIGTERM: saved a checkpoint' in log
  step, _ = _restored_params(workdir)
  assert 3 <= step < 40
  proc = _train_cli(workdir)
  log, _ = proc.communicate(timeout=600)
  assert proc.returncode == 0, log[-3000:]
  step, resumed = _restored_params(workdir)
  assert step == 40
  straight = train.train_and_evaluate(_config(), str(tmp_path / 'straight')).params
  assert relative_error(resumed, straight) <= 1e-6


def test_diverging_loss_stops_before_a_nan_checkpoint(tmp_path):
  config = _config()
  config.train.base_lr = float('nan')  # injected fault: params turn NaN at step 1
  config.checkpoint_every = 1
  with pytest.raises(FloatingPointError, match='at step'):
    train.train_and_evaluate(config, str(tmp_path))
  mngr = checkpoints.manager(str(tmp_path))
  if mngr.latest_step() is not None:
    _, params = _restored_params(str(tmp_path))
    assert all(np.all(np.isfinite(p)) for p in jax.tree.leaves(params))
