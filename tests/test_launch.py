"""The launch scripts' --dry-run commands, checked word by word."""
import os
import shlex
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _dry_run(*args, env=None):
  out = subprocess.run(list(args), cwd=REPO, capture_output=True, text=True,
                       check=True, env={**os.environ, **(env or {})}).stdout
  return [shlex.split(line) for line in out.strip().splitlines()]


def test_local_runs_the_job_module_in_the_venv():
  [cmd] = _dry_run('launch/local.sh', '--dry-run', 'train', '--config=configs/demo.py',
                   '--workdir=/tmp/w', env={'STSEG_VENV': '/opt/venv'})
  assert cmd == ['/opt/venv/bin/python', '-m', 'stseg_jax.train',
                 '--config=configs/demo.py', '--workdir=/tmp/w']


def test_local_test_command_is_pytest_on_tests():
  shared, alone = _dry_run('launch/local.sh', '--dry-run', 'test')
  keep_failed = ['-o', 'tmp_path_retention_policy=failed']
  assert shared[1:] == ['-m', 'pytest', '-q', *keep_failed, '-n', '2', '--dist', 'loadscope',
                        '--max-worker-restart=0', '-m', 'not alone', 'tests']
  assert alone[1:] == ['-m', 'pytest', '-q', *keep_failed, '-m', 'alone', 'tests']
  [one] = _dry_run('launch/local.sh', '--dry-run', 'test', 'tests/test_launch.py')
  assert one[1:] == ['-m', 'pytest', '-q', *keep_failed, 'tests/test_launch.py']


def test_multihost_adds_the_distributed_flags():
  [cmd] = _dry_run('launch/multihost.sh', '--coordinator=10.1.2.3:1234', '--num_processes=4',
                   '--process_id=3', '--dry-run', 'pseudo_label', '--config=configs/demo.py',
                   '--workdir=/shared/w')
  assert cmd[1:] == ['-m', 'stseg_jax.pseudo_label', '--config=configs/demo.py',
                     '--workdir=/shared/w', '--coordinator_address=10.1.2.3:1234',
                     '--num_processes=4', '--process_id=3']


def test_multihost_requires_the_coordinator():
  proc = subprocess.run(['launch/multihost.sh', '--num_processes=2', '--process_id=0', 'train'],
                        cwd=REPO, capture_output=True, text=True)
  assert proc.returncode != 0 and 'coordinator' in proc.stderr


def test_slurm_runs_one_multihost_process_per_task(tmp_path):
  # Stand-ins for SLURM's tools: scontrol names the nodes, srun runs 2 tasks.
  (tmp_path / 'scontrol').write_text('#!/bin/sh\nprintf "node7\\nnode8\\n"\n')
  (tmp_path / 'srun').write_text(
      '#!/bin/sh\nfor i in 0 1; do SLURM_PROCID=$i SLURM_NTASKS=2 "$@"; done\n')
  for tool in ('scontrol', 'srun'):
    os.chmod(tmp_path / tool, 0o755)
  cmds = _dry_run('bash', 'launch/slurm.sbatch', '--dry-run', 'train', '--config=c.py',
                  '--workdir=/w', env={'PATH': f'{tmp_path}:{os.environ["PATH"]}',
                                       'SLURM_JOB_NODELIST': 'node[7-8]'})
  assert [c[-3:] for c in cmds] == [
      ['--coordinator_address=node7:12355', '--num_processes=2', '--process_id=0'],
      ['--coordinator_address=node7:12355', '--num_processes=2', '--process_id=1']]
  assert all(c[1:5] == ['-m', 'stseg_jax.train', '--config=c.py', '--workdir=/w'] for c in cmds)


def test_tpu_pod_copies_sets_up_and_runs_on_every_worker():
  cmds = _dry_run('launch/tpu_pod.sh', '--tpu=pod1', '--zone=us-central2-b', '--project=p',
                  '--dry-run', 'train', '--config=configs/demo.py', '--workdir=gs://b/run')
  scp, setup, run = cmds
  where = ['--zone=us-central2-b', '--worker=all', '--project=p']
  assert scp == ['gcloud', 'compute', 'tpus', 'tpu-vm', 'scp', '--recurse', REPO,
                 'pod1:~/stseg-jax', *where]
  assert setup[:6] == ['gcloud', 'compute', 'tpus', 'tpu-vm', 'ssh', 'pod1']
  assert "pip install -q -r requirements.txt 'jax[tpu]==0.10.2'" in setup[-1]
  assert run[-1] == ('--command=cd ~/stseg-jax && STSEG_DISTRIBUTED=auto launch/local.sh '
                     'train --config=configs/demo.py --workdir=gs://b/run')


@pytest.mark.parametrize('job,extra', [
    ('train', []), ('evaluate', []), ('pseudo_label', ['--teacher_workdir=/nowhere']),
    ('self_train', []), ('bench', []),
])
def test_every_entry_point_starts_and_names_a_bad_config_key(tmp_path, job, extra):
  """Each job defines its flags, parses them and validates the config: a wrong
  model name is one line naming the key (not a flag clash or a deep traceback)."""
  config = 'configs/bench_schedules.py' if job == 'bench' else 'configs/demo.py'
  proc = subprocess.run(
      [sys.executable, '-m', f'stseg_jax.{job}', f'--config={config}',
       f'--workdir={tmp_path}', '--config.model.name=nope', *extra],
      cwd=REPO, capture_output=True, text=True, timeout=300)
  assert proc.returncode != 0
  assert 'Traceback' not in proc.stderr, proc.stderr[-3000:]
  assert 'config.model.name' in proc.stderr.strip().splitlines()[-1], proc.stderr[-3000:]
