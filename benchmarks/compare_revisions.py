"""The trainer's train step at two git revisions, timed in turns (before/after a change).

  .venv/bin/python benchmarks/compare_revisions.py d7c6cf0 HEAD --crop=256 --out=FILE.json

Checks each revision out into a temporary worktree, starts one worker process
per revision (each compiles its own Fast-SCNN trainer step: batch 8, plain
cross-entropy, configs/bench_schedules.py), then asks them for steps in turn,
`--rounds` rounds of 2 steps each, so both see the same machine. Prints and
writes each revision's median step time and their ratio.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

_WORKER = r'''
import sys, time
import jax, numpy as np
from configs import bench_schedules
from stseg_jax import optim, sharding, train
try:  # the bench package (after c26624b) or the bench module (before)
  from stseg_jax.bench import crop_schedules as bench
except ImportError:
  from stseg_jax import bench
crop = int(sys.argv[1])
c = bench_schedules.get_config()
c.train.crop_sizes, c.train.batch_size = (crop,), 8
mesh = sharding.make_mesh(jax.devices()[:1])
model = train.create_model(c.model, 19)
tx = optim.sgd_direction(c.train.momentum, c.train.weight_decay)
state = train.create_train_state(model, tx, jax.random.key(0), mesh)
make = getattr(train, 'make_step_fn', None) or bench.trainer_step_fn
step = train.compile_buckets(make(c, model, tx, mesh), state, [train.EpochPlan(crop, 8, 1)],
                             mesh)[crop].result()
horizon = sharding.to_replicated(np.int32(10**6), mesh)
batch = bench.random_batch(8, crop, 19, mesh, seed=crop)
for _ in range(5):
  state, metrics = step(state, batch, horizon)
jax.block_until_ready((state, metrics))
print('ready', flush=True)
for line in sys.stdin:
  times = []
  for _ in range(int(line)):
    start = time.perf_counter()
    state, metrics = step(state, batch, horizon)
    jax.block_until_ready((state, metrics))
    times.append(time.perf_counter() - start)
  print(' '.join(map(str, times)), flush=True)
'''


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('revisions', nargs=2)
  parser.add_argument('--crop', type=int, default=256)
  parser.add_argument('--rounds', type=int, default=10)
  parser.add_argument('--out', default='')
  args = parser.parse_args()
  repo = subprocess.check_output(['git', 'rev-parse', '--show-toplevel'], text=True).strip()
  with tempfile.TemporaryDirectory() as tmp:
    workers = []
    for i, rev in enumerate(args.revisions):
      tree = os.path.join(tmp, f'rev{i}')
      subprocess.run(['git', '-C', repo, 'worktree', 'add', '--detach', tree, rev], check=True,
                     capture_output=True)
      env = dict(os.environ, PYTHONPATH=tree)
      proc = subprocess.Popen([sys.executable, '-c', _WORKER, str(args.crop)], cwd=tree, env=env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
      while proc.stdout.readline().strip() != 'ready':
        if proc.poll() is not None:
          sys.exit(f'error: the worker for {rev} failed')
      workers.append((rev, tree, proc, []))
    try:
      for _ in range(args.rounds):
        for _, _, proc, times in workers:
          proc.stdin.write('2\n')
          proc.stdin.flush()
          times += [float(t) for t in proc.stdout.readline().split()]
    finally:
      for rev, tree, proc, _ in workers:
        proc.stdin.close()
        proc.wait()
        subprocess.run(['git', '-C', repo, 'worktree', 'remove', '--force', tree], check=False)
  result = {'crop': args.crop, 'batch_size': 8, 'rounds': args.rounds, 'revisions': [
      {'revision': rev, 'commit': subprocess.check_output(
          ['git', '-C', repo, 'rev-parse', rev], text=True).strip(),
       'median_seconds': statistics.median(times), 'all_seconds': times}
      for rev, _, _, times in workers]}
  a, b = (r['median_seconds'] for r in result['revisions'])
  result['speedup'] = a / b
  for r in result['revisions']:
    print(f"{r['revision']}: {r['median_seconds']:.4f} s/step")
  print(f'{args.revisions[1]} is {a / b:.2f}x as fast as {args.revisions[0]}')
  if args.out:
    with open(args.out, 'w') as f:
      json.dump(result, f, indent=2)


if __name__ == '__main__':
  main()
