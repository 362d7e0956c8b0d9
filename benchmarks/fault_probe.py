"""Faults as a user meets them, on the command line: `case | exit | outcome` for each.

  .venv/bin/python benchmarks/fault_probe.py [CASE ...] [--json=FILE]

Every case runs the jobs (`python -m stseg_jax.<job>`) on configs/tiny.py in a
fresh folder, does what a user or a scheduler would (a rerun with another
config, SIGTERM, Ctrl-C, a damaged checkpoint, a full disk, ...) and checks
the outcome the README's Reliability table promises: the exit status, one line
on stderr and no Python traceback, and the files left behind. Prints one row
per case and exits 1 if any case fails; tests/test_fault_probe.py runs each
case as a test.
"""
import argparse
import contextlib
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ['--config=configs/tiny.py']
PREEMPTED, INTERRUPTED = 75, 130


class Failed(AssertionError):
  """The outcome is not the documented one."""


def check(condition, what):
  if not condition:
    raise Failed(what)


def start(job, workdir, *args, config=TINY):
  """`python -m stseg_jax.<job>` in the background; stderr and stdout to files."""
  env = dict(os.environ, PYTHONUNBUFFERED='1')
  env.pop('STSEG_TRACEBACK', None)
  out = open(os.path.join(os.path.dirname(workdir), f'{os.path.basename(workdir)}.log'), 'a')
  return subprocess.Popen([sys.executable, '-m', f'stseg_jax.{job}', *config,
                           f'--workdir={workdir}', *args], cwd=REPO, stdout=out,
                          stderr=subprocess.PIPE, text=True, env=env)


def run(job, workdir, *args, config=TINY, timeout=900):
  """(exit status, stderr) of a job run to its end."""
  proc = start(job, workdir, *args, config=config)
  _, err = proc.communicate(timeout=timeout)
  return proc.returncode, err


def last_line(stderr):
  lines = [l for l in stderr.splitlines() if l.strip()]
  return lines[-1] if lines else ''


def one_line(stderr, status, code, *words):
  """The job exited `code` with a last line holding `words`, and no traceback."""
  line = last_line(stderr)
  check(status == code, f'exit {status}, expected {code}: {line}')
  if 'Traceback' in stderr:
    tail = stderr[stderr.index('Traceback'):].splitlines()
    raise Failed(f'a Python traceback on stderr: {" / ".join(tail[-3:])[:300]}')
  check('leaked shared_memory' not in stderr, 'leaked shared memory reported at exit')
  for word in words:
    check(word in line, f'{word!r} not in the last line: {line}')
  return line


def wait_for(path_or_fn, proc, timeout=300):
  """Until a file exists (or a predicate holds) while `proc` runs."""
  deadline = time.time() + timeout
  ready = path_or_fn if callable(path_or_fn) else lambda: os.path.exists(path_or_fn)
  while time.time() < deadline and proc.poll() is None and not ready():
    time.sleep(0.05)
  check(proc.poll() is None, f'the job ended before the moment to interrupt it ({proc.poll()})')


def logged_steps(workdir):
  path = os.path.join(workdir, 'metrics.jsonl')
  if not os.path.exists(path):
    return []
  return [json.loads(l)['step'] for l in open(path) if '"loss"' in l]


def trained(tmp):
  """A finished tiny run (4 steps, checkpoints 2 and 4)."""
  workdir = os.path.join(tmp, 'run')
  status, err = run('train', workdir)
  check(status == 0, f'the tiny run failed: {last_line(err)}')
  return workdir


def damage(workdir, step):
  for path in glob.glob(os.path.join(workdir, 'checkpoints', str(step), '**', 'd', '*'),
                        recursive=True):
    with open(path, 'r+b') as f:  # as after a disk filled up mid-copy
      f.truncate(os.path.getsize(path) // 2)


# --- The cases ----------------------------------------------------------------

def older_step_evaluation(tmp):
  workdir = trained(tmp)
  final = open(os.path.join(workdir, 'eval.json')).read()
  status, err = run('evaluate', workdir, '--checkpoint_step=2')
  check(status == 0, last_line(err))
  check(open(os.path.join(workdir, 'eval.json')).read() == final, 'eval.json was replaced')
  check(json.load(open(os.path.join(workdir, 'eval_step_2.json')))['checkpoint_step'] == 2,
        'no eval_step_2.json')
  return status, 'eval_step_2.json written, eval.json (step 4) kept'


def self_train_rerun_with_another_config(tmp):
  workdir = os.path.join(tmp, 'st')
  status, err = run('self_train', workdir)
  check(status == 0, last_line(err))
  status, err = run('self_train', workdir, '--config.train.base_lr=0.1')
  return status, one_line(err, status, 1, 'stage teacher', 'train.base_lr: 0.05 -> 0.1')


def stopped_early_is_not_done(tmp):
  workdir = os.path.join(tmp, 'st')
  status, err = run('self_train', workdir, '--config.train.stop_at_step=2')
  line = one_line(err, status, PREEMPTED, 'train.stop_at_step', 'step 2 of 4')
  check(not os.path.exists(os.path.join(workdir, 'teacher', 'DONE')), 'teacher marked DONE')
  check(not os.path.exists(os.path.join(workdir, 'labels')), 'a stage ran on the half teacher')
  return status, line


def misspelled_key_in_a_config_file(tmp):
  path = os.path.join(tmp, 'misspelled.py')
  with open(path, 'w') as f:
    f.write('from configs import tiny\n\n\ndef get_config():\n  c = tiny.get_config()\n'
            '  c.train.nmu_epochs = 3\n  return c\n')
  status, err = run('train', os.path.join(tmp, 'w'), config=[f'--config={path}'])
  line = one_line(err, status, 1, 'config.train.nmu_epochs', 'num_epochs')
  check(not os.path.exists(os.path.join(tmp, 'w', 'config.json')), 'a run started')
  return status, line


def tuple_override_given_twice(tmp):
  workdir = os.path.join(tmp, 'w')
  status, err = run('train', workdir, "--config.train.crop_sizes=(100000,)",
                    "--config.train.crop_sizes=(64,)")
  check(status == 0, last_line(err))
  saved = json.load(open(os.path.join(workdir, 'config.json')))['train']['crop_sizes']
  check(saved == [64], f'saved crop_sizes {saved}')
  return status, 'the last one wins: crop_sizes [64]'


def sigterm_during_start_up(tmp):
  workdir = os.path.join(tmp, 'w')
  proc = start('train', workdir)
  wait_for(os.path.join(workdir, 'config.json'), proc)  # started, no step trained yet
  proc.send_signal(signal.SIGTERM)
  _, err = proc.communicate(timeout=300)
  line = one_line(err, proc.returncode, PREEMPTED, 'SIGTERM')
  status, err = run('train', workdir)
  check(status == 0, f'the rerun failed: {last_line(err)}')
  return proc.returncode, line + ' | rerun: exit 0'


def sigterm_during_labelling(tmp):
  teacher = trained(tmp)
  out = os.path.join(tmp, 'labels')
  many = ['--config.data.num_unlabeled=64', '--config.pseudo_label.images_per_shard=2']
  proc = start('pseudo_label', out, f'--teacher_workdir={teacher}', *many)
  wait_for(lambda: glob.glob(os.path.join(out, 'pseudo', '*.tfrecord')), proc)
  proc.send_signal(signal.SIGTERM)
  _, err = proc.communicate(timeout=300)
  line = one_line(err, proc.returncode, PREEMPTED, 'SIGTERM')
  status, err = run('pseudo_label', out, f'--teacher_workdir={teacher}', *many)
  check(status == 0, f'the rerun failed: {last_line(err)}')
  shards = glob.glob(os.path.join(out, 'pseudo', '*.tfrecord'))
  check(len(shards) == 32, f'{len(shards)} shards after the rerun, expected 32')
  return proc.returncode, line + ' | rerun: 32 shards'


def failed_start_leaves_no_run(tmp):
  workdir, empty = os.path.join(tmp, 'w'), os.path.join(tmp, 'empty')
  os.makedirs(empty)
  status, err = run('train', workdir, f'--config.pseudo.dir={empty}')
  one_line(err, status, 1, 'pseudo.dir')
  status, err = run('train', workdir)
  check(status == 0, f'the corrected rerun was refused: {last_line(err)}')
  return status, 'corrected rerun ran (no step had been trained)'


@contextlib.contextmanager
def tiny_disk(path, size='3m'):
  os.makedirs(path)
  mounted = subprocess.run(['mount', '-t', 'tmpfs', '-o', f'size={size}', 'tmpfs', path],
                           capture_output=True).returncode == 0
  try:
    yield mounted
  finally:
    if mounted:
      subprocess.run(['umount', '-l', path], check=False)


def disk_full(tmp):
  with tiny_disk(os.path.join(tmp, 'disk')) as mounted:
    if not mounted:
      return None, 'skipped: cannot mount a tmpfs here (needs root)'
    workdir = os.path.join(tmp, 'disk', 'w')
    status, err = run('train', workdir, '--config.checkpoint_every=1')
    return status, one_line(err, status, 1, 'no space left on device')


def damaged_latest_checkpoint_for_readers(tmp):
  workdir = trained(tmp)
  damage(workdir, 4)
  status, err = run('evaluate', workdir)
  check(status == 0, last_line(err))
  check('checkpoint step 4' in err and 'does not read back' in err, 'no warning naming step 4')
  check(os.path.exists(os.path.join(workdir, 'eval_step_2.json')), 'step 2 not evaluated')
  status, err = run('pseudo_label', os.path.join(tmp, 'labels'), f'--teacher_workdir={workdir}')
  check(status == 0, f'pseudo_label: {last_line(err)}')
  return status, 'evaluate and pseudo_label warn and read step 2'


def negative_seed(tmp):
  begin = time.time()
  status, err = run('train', os.path.join(tmp, 'w'), '--config.seed=-1')
  line = one_line(err, status, 1, 'config.seed')
  return status, f'{line} ({time.time() - begin:.0f} s)'


def ctrl_c(tmp):
  workdir = os.path.join(tmp, 'w')
  # 800 steps (tens of seconds): the signal lands mid-run even on a loaded machine
  # (at 80 steps a run on threads could finish before the probe saw two steps).
  proc = start('train', workdir, '--config.train.num_epochs=400', '--config.checkpoint_every=1000')
  wait_for(lambda: len(logged_steps(workdir)) >= 2, proc)
  proc.send_signal(signal.SIGINT)
  _, err = proc.communicate(timeout=300)
  line = one_line(err, proc.returncode, INTERRUPTED, 'interrupted')
  check(os.listdir(os.path.join(workdir, 'checkpoints')), 'no checkpoint of the finished steps')
  return proc.returncode, line


def non_finite_loss(tmp):
  status, err = run('train', os.path.join(tmp, 'w'), '--config.train.base_lr=1e9',
                    '--config.data.num_workers=1')
  return status, one_line(err, status, 1, 'non-finite')


def shared_memory_released(tmp):
  before = set(os.listdir('/dev/shm'))
  status, err = run('train', os.path.join(tmp, 'w'), '--config.data.num_workers=1')
  check(status == 0, last_line(err))
  check('leaked shared_memory' not in err, 'leaked shared memory reported at exit')
  time.sleep(2)  # segments of other jobs on the machine come and go
  left = sorted(n for n in set(os.listdir('/dev/shm')) - before if n.startswith('psm_'))
  check(not left, f'{len(left)} shared-memory segments left in /dev/shm')
  return status, 'no /dev/shm segment left, no leak warning'


def metrics_after_kill_9(tmp):
  workdir = os.path.join(tmp, 'w')
  proc = start('train', workdir, '--config.train.num_epochs=6', '--config.checkpoint_every=4')
  wait_for(lambda: len(logged_steps(workdir)) >= 6, proc)
  proc.kill()
  proc.communicate()
  status, err = run('train', workdir, '--config.train.num_epochs=6',
                    '--config.checkpoint_every=4')
  check(status == 0, last_line(err))
  steps = logged_steps(workdir)
  check(steps == list(range(1, 13)), f'metrics.jsonl steps {steps}')
  return status, 'metrics.jsonl holds steps 1..12 once each'


def unknown_override(tmp):
  status, err = run('train', os.path.join(tmp, 'w'), '--config.train.nmu_epochs=3')
  line = one_line(err, status, 1, "--config.train.nmu_epochs: no field 'nmu_epochs'",
                  "did you mean 'num_epochs'")
  check('\\' not in line, f'escaped characters: {line}')
  return status, line


def resume_anyway_keeps_history(tmp):
  workdir = trained(tmp)
  status, err = run('train', workdir, '--config.train.base_lr=0.5',
                    '--config.train.num_epochs=3', '--config.resume_anyway=True')
  check(status == 0, last_line(err))
  history = [json.loads(l) for l in open(os.path.join(workdir, 'config_history.jsonl'))]
  check(history[0]['config']['train']['base_lr'] == 0.05, f'history {history}')
  return status, 'config_history.jsonl holds the first LR (0.05)'


def report_seconds_sum_attempts(tmp):
  workdir = os.path.join(tmp, 'st')
  # Checkpoints only where SIGTERM and the end put them: each save is most of a tiny step's cost.
  longer = ['--config.train.num_epochs=20', '--config.checkpoint_every=1000']
  proc = start('self_train', workdir, *longer)
  wait_for(lambda: len(logged_steps(os.path.join(workdir, 'teacher'))) >= 3, proc)
  proc.send_signal(signal.SIGTERM)
  proc.communicate(timeout=300)
  status, err = run('self_train', workdir, *longer)
  check(status == 0, last_line(err))
  done = json.load(open(os.path.join(workdir, 'teacher', 'DONE')))
  report = json.load(open(os.path.join(workdir, 'report.json')))
  check(done['attempts'] == 2, f'teacher attempts {done["attempts"]}')
  check(report['seconds']['teacher'] == done['seconds'], 'report seconds differ from DONE')
  return status, f'teacher: 2 attempts, {done["seconds"]:.0f} s in the report'


def workdir_is_a_file(tmp):
  path = os.path.join(tmp, 'file')
  open(path, 'w').close()
  status, err = run('train', path)
  return status, one_line(err, status, 1, 'is a file, not a folder')


CASES = {
    'older_step_evaluation': older_step_evaluation,
    'self_train_rerun_with_another_config': self_train_rerun_with_another_config,
    'stopped_early_is_not_done': stopped_early_is_not_done,
    'misspelled_key_in_a_config_file': misspelled_key_in_a_config_file,
    'tuple_override_given_twice': tuple_override_given_twice,
    'sigterm_during_start_up': sigterm_during_start_up,
    'sigterm_during_labelling': sigterm_during_labelling,
    'failed_start_leaves_no_run': failed_start_leaves_no_run,
    'disk_full': disk_full,
    'damaged_latest_checkpoint_for_readers': damaged_latest_checkpoint_for_readers,
    'negative_seed': negative_seed,
    'ctrl_c': ctrl_c,
    'non_finite_loss': non_finite_loss,
    'shared_memory_released': shared_memory_released,
    'metrics_after_kill_9': metrics_after_kill_9,
    'unknown_override': unknown_override,
    'resume_anyway_keeps_history': resume_anyway_keeps_history,
    'report_seconds_sum_attempts': report_seconds_sum_attempts,
    'workdir_is_a_file': workdir_is_a_file,
}


def run_case(name, tmp):
  """(ok, exit status, outcome) of one case, in the folder `tmp`."""
  try:
    status, outcome = CASES[name](tmp)
    return True, status, outcome
  except Failed as e:
    return False, None, f'FAILED: {e}'


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('cases', nargs='*', metavar='CASE', help=f'default all: {", ".join(CASES)}')
  parser.add_argument('--json', default='', help='also write the rows here')
  args = parser.parse_args()
  unknown = [c for c in args.cases if c not in CASES]
  if unknown:
    parser.error(f'unknown case(s) {unknown}; known: {", ".join(CASES)}')
  args.cases = args.cases or list(CASES)
  rows = []
  print('| case | exit | outcome |\n|---|---|---|', flush=True)
  for name in args.cases:
    tmp = tempfile.mkdtemp(prefix=f'fault_probe_{name}_')
    ok, status, outcome = run_case(name, tmp)
    rows.append({'case': name, 'ok': ok, 'exit': status, 'outcome': outcome})
    print(f'| {name} | {"-" if status is None else status} | {outcome} |', flush=True)
    shutil.rmtree(tmp, ignore_errors=True)
  if args.json:
    with open(args.json, 'w') as f:
      json.dump(rows, f, indent=1)
  sys.exit(0 if all(r['ok'] for r in rows) else 1)


if __name__ == '__main__':
  main()
