"""Fast training schedules (section 3.3, Tables 4 and 10): the ratio7 student on crops 400..800.

  launch/tpu_pod.sh --tpu=NAME --zone=ZONE self_train \\
      --config=configs/cityscapes_fast_schedules.py:coarse2fine+ --workdir=gs://BUCKET/runs/c2f_plus
  sbatch --nodes=1 launch/slurm.sbatch self_train \\
      --config=configs/cityscapes_fast_schedules.py:coarse2fine+ --workdir=$HOME/runs/c2f_plus
  sbatch --nodes=2 launch/slurm.sbatch ablation \\
      --config=configs/cityscapes_fast_schedules.py:table4 --workdir=$HOME/runs/cs_table4
  python -m stseg_jax.self_train --config=configs/cityscapes_fast_schedules.py:runlocal \\
      --workdir=/tmp/f

configs/cityscapes_students.py:ratio7 (teacher A, coarse pseudo labels, 1.5K
real + 10.5K pseudo crops an epoch, 180 epochs) with the student's crop size
changing over the epochs: crops 400, 480, ..., 800, batch 16 at crop 800 and
up to 64 at smaller crops from the same pixels per batch, the LR following
images seen (schedules.py), and by default the warm-up of Table 4: 20 epochs
at crop 800 first. The teacher keeps crop 800.

Arguments, comma-separated:
  coarse2fine+ (default) | coarse2fine | fine2coarse | fine2coarse+ | constant
                 the schedule (schedules.py); constant is Table 4's baseline (crop 800)
  nowarmup       no crop warm-up (Table 4, left column)
  wideresnet38 | pspnet | fast_scnn   the student's network (Table 10)
  table4         every cell of Table 4 over 5 seeds on one teacher per seed:
                 `stseg_jax.ablation`
  runlocal       the CPU twin (configs/runlocal.py): crops 48 and 64, a warm-up epoch

Paper figures (val mIoU, Table 4): constant 80.0; without / with warm-up
coarse2fine 79.1 / 79.6, fine2coarse 79.4 / 79.8, coarse2fine+ 79.5 / 80.0,
fine2coarse+ 79.4 / 79.9; speed-up 1.8x / 1.7x. Table 10 (speed-up of the fast
schedule): Fast-SCNN 1.5x, DeepLabV3+ ResNeXt-50 1.7x, PSPNet ResNet-101 1.9x,
DeepLabV3+ WideResNet-38 2x. Step times per crop and the predicted speed-up
of each schedule, without training: `python -m stseg_jax.bench
--config=configs/bench_paper.py[:pspnet|:fast_scnn]` (README, Benchmarks).

Data and weights: as configs/cityscapes_students.py (the ImageNet .npz,
converted once: python -m stseg_jax.models.convert_torch IN.pth ~/weights/OUT.npz).
Measured (README, H200): crop 800 batch 16 bf16, 0.207 s/step and 30.2 GB on
one H200; the smaller crops' batches (up to 64 at 400) hold about the same
pixels, so about the same memory; their step times were not measured.
"""
import ml_collections

from configs import cityscapes_students
from configs import paper
from configs import runlocal
from stseg_jax import schedules

_STUDENTS = ('wideresnet38', 'pspnet', 'fast_scnn')
TABLES = {'table4': tuple(f'{s}{w}' for s in tuple(schedules.SCHEDULES)[1:] for w in ('', ',nowarmup'))
                    + ('constant',)}
VARIANTS = tuple(schedules.SCHEDULES) + ('coarse2fine+,nowarmup',) + tuple(
    f'coarse2fine+,{m}' for m in _STUDENTS) + tuple(TABLES)


def get_config(arg='coarse2fine+'):
  tokens = paper.arg_tokens(arg, tuple(schedules.SCHEDULES) + _STUDENTS + tuple(TABLES) +
                            ('nowarmup', 'runlocal'), 'cityscapes_fast_schedules.py')
  if 'table4' in tokens:
    return _ablation([t for t in tokens if t != 'table4'])
  schedule = next((t for t in tokens if t in schedules.SCHEDULES), 'coarse2fine+')
  network = [t for t in tokens if t in _STUDENTS]
  c = cityscapes_students.get_config(','.join(['coarse', 'ratio7'] + network))
  c.student.train = paper.fast_schedule(ml_collections.ConfigDict(c.student.train.to_dict()),
                                        schedule, warmup='nowarmup' not in tokens)
  if 'runlocal' in tokens:
    runlocal.shrink(c)
  return c


def _ablation(extra):
  rows = TABLES['table4']
  c = get_config(','.join([rows[0]] + extra))
  c.ablation = ml_collections.ConfigDict({
      'seeds': (0, 1, 2, 3, 4),
      'variants': {row.replace(',', '_'): {'student': get_config(
          ','.join([row] + extra)).student.to_dict()} for row in rows[1:]}})
  return c
