"""Faults during training: SIGTERM (preemption), kill -9, a damaged checkpoint,
divergence to NaN, and a bad file met mid-run."""
import glob
import os
import random
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from stseg_jax import checkpoints
from stseg_jax import models
from stseg_jax import optim
from stseg_jax import sharding
from stseg_jax import train
from stseg_jax import train_state
from stseg_jax import workdir as workdir_lib
from test_camvid import make_root
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
  model = models.from_config(_config().model, 19)
  state = train_state.create_train_state(model, optim.sgd_direction(), jax.random.key(0),
                                       sharding.make_mesh())
  mngr = checkpoints.manager(workdir)
  return mngr.latest_step(), checkpoints.restore(mngr, checkpoints.abstract(state)).params


def _train_cli(workdir, *extra):
  return subprocess.Popen(
      [sys.executable, '-m', 'stseg_jax.train', '--config=configs/synthetic_fastscnn.py',
       f'--workdir={workdir}', *OVERRIDES, *extra], cwd=REPO, stdout=subprocess.PIPE,
      stderr=subprocess.STDOUT, text=True)


@pytest.fixture(scope='module')
def straight(tmp_path_factory):
  """Params of the uninterrupted 40-step run that each fault's resumed run must equal."""
  return train.train_and_evaluate(_config(), str(tmp_path_factory.mktemp('straight'))).params


def _wait_for_logged_steps(workdir, n, proc):
  metrics = os.path.join(workdir, 'metrics.jsonl')
  deadline = time.time() + 300
  while time.time() < deadline and proc.poll() is None and not (
      os.path.exists(metrics) and sum(1 for _ in open(metrics)) >= n):
    time.sleep(0.02)
  assert proc.poll() is None, proc.communicate()[0][-3000:]


def _finish(workdir, *extra):
  log, _ = _train_cli(workdir, *extra).communicate(timeout=600)
  return log


@pytest.mark.parametrize('signum, status, line', [
    # Not 0: a scheduler must tell a preempted job from a finished one.
    (signal.SIGTERM, workdir_lib.EXIT_PREEMPTED, 'stopped: SIGTERM: '),
    (signal.SIGINT, 130, 'interrupted (Ctrl-C)'),
], ids=['sigterm', 'ctrl_c'])
def test_stop_signal_checkpoints_at_a_step_end_and_resumes_exactly(tmp_path, straight, signum,
                                                                   status, line):
  workdir = str(tmp_path / 'stopped')
  proc = _train_cli(workdir)
  _wait_for_logged_steps(workdir, 3, proc)
  proc.send_signal(signum)
  log, _ = proc.communicate(timeout=300)
  assert proc.returncode == status, log[-3000:]
  assert line in log and 'rerun the same command' in log and 'Traceback' not in log
  step, _ = _restored_params(workdir)
  assert 3 <= step < 40
  _finish(workdir)
  step, resumed = _restored_params(workdir)
  assert step == 40
  assert relative_error(resumed, straight) <= 1e-6


def test_kill_9_at_a_random_step_then_resume(tmp_path, straight):
  """SIGKILL gives no chance to save: the run resumes from the last checkpoint
  orbax finished (a save cut short leaves only a temporary folder behind)."""
  workdir = str(tmp_path / 'killed')
  kill_after = random.Random(os.getpid()).randrange(6, 30)
  proc = _train_cli(workdir, '--config.checkpoint_every=5')
  _wait_for_logged_steps(workdir, kill_after, proc)
  ckpt_dir = os.path.join(workdir, 'checkpoints')
  while proc.poll() is None and not [d for d in os.listdir(ckpt_dir) if d.isdigit()]:
    time.sleep(0.02)  # a finished checkpoint to resume from (saves are asynchronous)
  proc.kill()
  proc.wait()
  log = _finish(workdir, '--config.checkpoint_every=5')
  assert 'Resumed from step' in log, (kill_after, log[-3000:])
  step, resumed = _restored_params(workdir)
  assert step == 40
  assert relative_error(resumed, straight) <= 1e-6, kill_after


def test_damaged_latest_checkpoint_falls_back_to_the_one_before(tmp_path, straight):
  workdir = str(tmp_path / 'damaged')
  config = _config()
  config.checkpoint_every, config.train.stop_at_step = 10, 30
  with pytest.raises(workdir_lib.Preempted):
    train.train_and_evaluate(config, workdir)
  for path in glob.glob(os.path.join(workdir, 'checkpoints', '30', '**', 'd', '*'),
                        recursive=True):
    with open(path, 'r+b') as f:  # as after a disk filled up mid-copy
      f.truncate(os.path.getsize(path) // 2)
  log = _finish(workdir, '--config.checkpoint_every=10')
  assert 'checkpoint step 30' in log and 'does not read back' in log, log[-3000:]
  assert 'Resumed from step 20' in log
  assert os.path.isdir(os.path.join(workdir, 'checkpoints_corrupt', '30'))
  step, resumed = _restored_params(workdir)
  assert step == 40
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


def test_corrupt_image_mid_run_names_the_file_and_keeps_finished_steps(tmp_path):
  """An image that turns bad after training started: one line naming it, the
  finished steps checkpointed, and after the file is fixed the run resumes."""
  root = tmp_path / 'camvid'
  make_root(root, n=6, size=(64, 96))
  workdir = str(tmp_path / 'run')
  args = [f'--config.data.root={root}', '--config.data.name=camvid',
          '--config.data.eval_split=train', '--config.train.crop_sizes=(32,)',
          '--config.train.epoch_items=16', '--config.train.batch_size=8',
          '--config.train.num_epochs=200', '--config.eval.batch_size=4',
          '--config.loss.ohem_min_kept=100']
  proc = _train_cli(workdir, *args)
  _wait_for_logged_steps(workdir, 4, proc)
  image = root / 'train' / '3.png'
  good = image.read_bytes()
  image.write_bytes(good[:60])  # truncated, as by a failed copy
  log, _ = proc.communicate(timeout=300)
  assert proc.returncode not in (0, None)
  last_line = log.strip().splitlines()[-1]
  assert last_line.startswith('error:') and 'train/3.png' in last_line, log[-3000:]
  assert 'Traceback' not in log
  saved = checkpoints.manager(workdir).latest_step()
  assert saved is not None and saved >= 4
  image.write_bytes(good)
  # Fewer epochs to finish sooner: a changed run, so it must be asked for.
  log = _finish(workdir, *args, '--config.train.num_epochs=20', '--config.resume_anyway=True')
  assert f'Resumed from step {saved}' in log, log[-3000:]
