"""No silent wrong result: a run is the run it was started as, or it stops with one line.

Preempted stages, relabelling with another teacher, resuming under another
config, unreadable checkpoints, a final evaluation that failed, a batch that
does not split, two jobs in one workdir, and the command line's own errors.
"""
import glob
import json
import os
import signal
import subprocess
import sys
import threading
import time

import ml_collections
import numpy as np
import pytest
from PIL import Image

from stseg_jax import checkpoints
from stseg_jax import errors
from stseg_jax import pseudo_label
from stseg_jax import schedules
from stseg_jax import self_train
from stseg_jax import train
from stseg_jax import workdir as workdir_lib
from test_camvid import make_root
from test_train import tiny_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('run'))
  train.train_and_evaluate(tiny_config(), workdir)
  return workdir


def _cli(module, *args, timeout=600):
  return subprocess.run([sys.executable, '-m', module, *args], cwd=REPO, capture_output=True,
                        text=True, timeout=timeout)


def test_resume_with_a_changed_training_field_stops_naming_it(trained, tmp_path):
  changed = tiny_config()
  changed.train.base_lr *= 10
  changed.train.num_epochs = 3
  with pytest.raises(errors.ConfigError, match=r'train.base_lr: 0.05 -> 0.5.*train.num_epochs'):
    train.train_and_evaluate(changed, trained)
  # Logging and evaluation cadence may change: that run resumes (and is already done).
  cadence = tiny_config()
  cadence.log_every, cadence.eval_every = 2, 8
  assert int(train.train_and_evaluate(cadence, trained).step) == 4
  changed.resume_anyway = True
  assert int(train.train_and_evaluate(changed, _copy(trained, tmp_path)).step) == 6


def _copy(workdir, tmp_path):
  target = str(tmp_path / 'copy')
  subprocess.run(['cp', '-r', workdir, target], check=True)
  return target


def test_a_checkpoint_of_another_model_is_a_config_error_not_damage(trained, tmp_path):
  workdir = _copy(trained, tmp_path)
  other = tiny_config()
  other.data.num_val = 8
  other.model.name, other.model.backbone, other.model.output_stride = 'deeplabv3plus', 'resnet50', 16
  other.resume_anyway = True  # past the config check: the checkpoint's arrays still differ
  with pytest.raises(errors.ConfigError, match='another model or optimizer.*arrays differ'):
    train.train_and_evaluate(other, workdir)
  assert not os.path.exists(os.path.join(workdir, 'checkpoints_corrupt'))
  assert sorted(os.listdir(os.path.join(workdir, 'checkpoints'))) == ['2', '4']


def _damage_all_checkpoints(workdir):
  for path in glob.glob(os.path.join(workdir, 'checkpoints', '*', '**', 'd', '*'), recursive=True):
    open(path, 'wb').close()  # every array file emptied


def test_no_readable_checkpoint_stops_unless_asked(trained, tmp_path):
  workdir = _copy(trained, tmp_path)
  _damage_all_checkpoints(workdir)
  with pytest.raises(errors.DataError, match='none of the 2 checkpoints.*resume_anyway'):
    train.train_and_evaluate(tiny_config(), workdir)
  corrupt = os.path.join(workdir, 'checkpoints_corrupt')
  assert sorted(os.listdir(corrupt)) == ['2', '4']  # kept for a look, not deleted
  again = tiny_config()
  again.resume_anyway = True
  assert int(train.train_and_evaluate(again, workdir).step) == 4  # started over, as asked
  _damage_all_checkpoints(workdir)
  train.train_and_evaluate(again, workdir)
  assert sorted(os.listdir(corrupt)) == ['2', '2.1', '4', '4.1']  # the earlier ones stay


def test_a_failed_final_evaluation_is_redone_on_rerun(tmp_path):
  root = make_root(tmp_path / 'camvid', n=6, size=(48, 64))
  os.makedirs(os.path.join(root, 'val'))
  for i in range(2):  # two val frames: copies of train's
    subprocess.run(['cp', os.path.join(root, 'train', f'{i}.png'),
                    os.path.join(root, 'val', f'{i}.png')], check=True)
  with open(os.path.join(root, 'val.txt'), 'w') as f:
    f.write(''.join(f'val/{i}.png trainannot/{i}.png\n' for i in range(2)))
  config = tiny_config()
  config.data.name, config.data.root = 'camvid', root
  config.train.crop_sizes, config.eval.batch_size = (32,), 8
  config.eval_every = 1000  # only the final evaluation
  bad = os.path.join(root, 'val', '1.png')
  good = open(bad, 'rb').read()
  open(bad, 'wb').write(b'not a png')
  workdir = str(tmp_path / 'run')
  with pytest.raises(errors.DataError, match='corrupt or unreadable'):
    train.train_and_evaluate(config, workdir)
  assert not os.path.exists(os.path.join(workdir, 'eval.json'))
  open(bad, 'wb').write(good)  # the user fixes the file and reruns
  train.train_and_evaluate(config, workdir)
  assert json.load(open(os.path.join(workdir, 'eval.json')))['checkpoint_step'] == 4


def test_a_batch_that_does_not_split_over_the_devices_is_refused():
  config = tiny_config()
  config.train.batch_size = 6  # conftest: 8 devices
  with pytest.raises(errors.ConfigError, match='batch_size: 6 does not split over 8'):
    schedules.make_plan(config.train, 16, 8)


def test_one_job_per_workdir(tmp_path):
  workdir = str(tmp_path / 'run')
  os.makedirs(workdir)
  held, release = threading.Event(), threading.Event()

  def holder():
    with workdir_lib.lock(workdir):
      held.set()
      release.wait(60)
  thread = threading.Thread(target=holder)
  thread.start()
  held.wait(60)
  try:
    with pytest.raises(workdir_lib.WorkdirInUse, match=f'pid {os.getpid()} on .*one job per'):
      train.train_and_evaluate(tiny_config(), workdir)
  finally:
    release.set()
    thread.join()
  # The lock went with its holder: the next job runs.
  assert int(train.train_and_evaluate(tiny_config(), workdir).step) == 4


def test_relabelling_with_another_teacher_or_recipe_is_refused(trained, tmp_path):
  config = tiny_config()
  config.data.num_unlabeled = 4
  labels = str(tmp_path / 'labels')
  pseudo_label.run(config, labels, trained)
  pseudo_label.run(config, labels, trained)  # the same teacher and recipe: shards skipped
  other = tiny_config()
  other.data.num_unlabeled = 4
  other.pseudo_label.confidence_threshold = 0.5
  with pytest.raises(errors.ConfigError,
                     match='another teacher or recipe.*confidence_threshold: 0.0 -> 0.5'):
    pseudo_label.run(other, labels, trained)
  retrained = _copy(trained, tmp_path)  # the same step number, other weights
  config_2 = tiny_config()
  config_2.seed = 1
  config_2.resume_anyway = True
  for sub in ('checkpoints',):
    subprocess.run(['rm', '-r', os.path.join(retrained, sub)], check=True)
  train.train_and_evaluate(config_2, retrained)
  with pytest.raises(errors.ConfigError, match='teacher.workdir|weights_sha256'):
    pseudo_label.run(config, labels, retrained)


def test_a_preempted_stage_is_not_marked_done_and_the_job_says_so(tmp_path):
  workdir = str(tmp_path / 'st')
  args = ['--config=configs/synthetic_fastscnn.py', f'--workdir={workdir}',
          '--config.data.height=64', '--config.data.width=128', '--config.data.num_train=16',
          '--config.data.num_val=8', '--config.data.num_unlabeled=8',
          '--config.data.num_workers=0', '--config.train.crop_sizes=(64,)',
          '--config.train.epoch_items=16', '--config.train.num_epochs=20',
          '--config.eval.batch_size=8', '--config.log_every=1', '--config.eval_every=1000',
          '--config.checkpoint_every=1000']
  proc = subprocess.Popen([sys.executable, '-m', 'stseg_jax.self_train', *args], cwd=REPO,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
  metrics = os.path.join(workdir, 'teacher', 'metrics.jsonl')
  deadline = time.time() + 300
  while time.time() < deadline and proc.poll() is None and not (
      os.path.exists(metrics) and sum(1 for _ in open(metrics)) >= 3):
    time.sleep(0.05)
  proc.send_signal(signal.SIGTERM)
  log, _ = proc.communicate(timeout=300)
  assert proc.returncode == workdir_lib.EXIT_PREEMPTED, log[-3000:]
  assert not os.path.exists(os.path.join(workdir, 'teacher', 'DONE'))
  assert not os.path.exists(os.path.join(workdir, 'labels'))  # no stage ran on the half teacher
  assert 'preempted' in log.splitlines()[-1]


@pytest.mark.parametrize('args,message', [
    (['--config=configs/nope.py'], "--config=configs/nope.py: [Errno 2] No such file"),
    (['--config=configs/synthetic_fastscnn.py', '--config.model.nope=1'],
     "--config.model.nope: no field 'nope'"),
    (['--config=configs/synthetic_fastscnn.py', '--config.model.dtype=float8'],
     "config.model.dtype: 'float8' is not one of"),
])
def test_command_line_errors_are_one_line(tmp_path, args, message):
  out = _cli('stseg_jax.train', *args, f'--workdir={tmp_path}', timeout=120)
  assert out.returncode == 1
  lines = [l for l in out.stderr.splitlines() if l.strip()]
  assert lines[-1].startswith('error: ') and message in lines[-1], out.stderr[-2000:]
  assert 'Traceback' not in out.stderr


def test_config_that_raises_or_does_not_parse_is_one_line(tmp_path):
  (tmp_path / 'raises.py').write_text('def get_config():\n  raise RuntimeError("boom")\n')
  (tmp_path / 'broken.py').write_text('def get_config(:\n  pass\n')
  for name, message in (('raises.py', 'the config raised RuntimeError: boom'),
                        ('broken.py', 'SyntaxError')):
    out = _cli('stseg_jax.train', f'--config={tmp_path / name}', f'--workdir={tmp_path}/w',
               timeout=120)
    assert out.returncode == 1 and message in out.stderr.splitlines()[-1], out.stderr[-2000:]
    assert 'Traceback' not in out.stderr


def test_evaluate_a_missing_checkpoint_step_names_the_steps(trained):
  out = _cli('stseg_jax.evaluate', '--config=configs/synthetic_fastscnn.py', f'--workdir={trained}',
             '--checkpoint_step=99', '--config.data.height=64', '--config.data.width=128',
             '--config.data.num_val=8', '--config.eval.batch_size=8', timeout=300)
  assert out.returncode == 1
  assert 'checkpoint step 99' in out.stderr.splitlines()[-1] and '[2, 4]' in out.stderr, \
      out.stderr[-2000:]


def test_fields_added_or_removed_by_the_code_are_not_changes_of_the_run():
  saved = ml_collections.ConfigDict({'train': {'base_lr': 0.1, 'old_field': 1}, 'log_every': 5})
  now = ml_collections.ConfigDict({'train': {'base_lr': 0.1, 'new_field': 2}, 'log_every': 9})
  assert workdir_lib.config_changes(saved, now) == []  # log_every may change too
  now.train.base_lr = 0.2
  assert workdir_lib.config_changes(saved, now) == ['train.base_lr: 0.1 -> 0.2']
