"""Cityscapes students of Tables 1-3 and 11: `stseg_jax.self_train` (or `stseg_jax.ablation`).

  launch/tpu_pod.sh --tpu=NAME --zone=ZONE self_train \\
      --config=configs/cityscapes_students.py:coarse,ratio7 --workdir=gs://BUCKET/runs/cs_ratio7
  sbatch --nodes=1 launch/slurm.sbatch self_train \\
      --config=configs/cityscapes_students.py:coarse,ratio7 --workdir=$HOME/runs/cs_ratio7
  sbatch --nodes=2 launch/slurm.sbatch ablation \\
      --config=configs/cityscapes_students.py:table2a --workdir=$HOME/runs/cs_table2a
  python -m stseg_jax.self_train --config=configs/cityscapes_students.py:runlocal --workdir=/tmp/s

The teacher is configs/cityscapes_teacher.py's (WORKDIR/teacher/); it labels the
unlabeled images with scales 0.5, 1.0, 2.0, flips and 1024 tiles (WORKDIR/labels/);
the student trains 180 epochs, each of 1.5K real crops drawn from the 2975 fine
images plus ratio x 1.5K crops of pseudo labels centred on region centroids
(section 3.2), from ImageNet weights like the teacher (WORKDIR/student/), and
both are scored on val (WORKDIR/report.md).

Arguments, comma-separated (README table: configs/README.md):
  coarse (default) | mapillary  the unlabeled images: the 19,998 Cityscapes coarse
                 images (leftImg8bit/train_extra; their labels never read), or the
                 18,000 Mapillary training images
  ratio1 (default) | ratio3 | ratio5 | ratio7   pseudo crops per real crop (Table 2a)
  uniform        pseudo crops drawn uniformly, no centroid sampling (Table 2a, w/o CS)
  duplicate      the baseline of Table 2b: the 2975 real labels repeated 1+ratio
                 times instead (ratio1, ratio2, ratio3: 6K, 9K, 12K crops an epoch)
  wideresnet38 | pspnet | fast_scnn   the student's network (Table 3; default the
                 teacher's DeepLabV3+ ResNeXt-50)
  teacher_b      the teacher is DeepLabV3+ WideResNet-38 (Table 11's teacher B)
  table2a | table2b | table3 | table11   every row of that table over 5 seeds on one
                 teacher per seed (the paper averages 5 runs): `stseg_jax.ablation`
  runlocal       the CPU twin (configs/runlocal.py)

Paper figures (val mIoU; teacher 78.1): coarse,ratio1 79.0 (Table 1; coarse and
Mapillary together 79.3); ratio1/3/5/7 79.3/79.7/79.9/80.0 and with uniform
78.4/78.7/78.9/78.7 (Table 2a); duplicate,ratio1/2/3 78.9/79.1/79.0 (Table 2b);
ratio7 with wideresnet38 82.2, fast_scnn 72.5, pspnet 79.9 (Table 3); with
teacher_b 80.4, 82.7, 72.8, 80.1 (Table 11).

Not as in the paper: Tables 2-3 label the coarse and the Mapillary images
together (40K); one labelling pass here reads one unlabeled set (pseudo_label.py),
so these label the 20K coarse images (Table 1's first student); `mapillary`
labels the Mapillary images alone, in the teacher's 19 classes.

Data: DATA/cityscapes as for the teacher, plus leftImg8bit/train_extra/<city>/
(leftImg8bit_trainextra.zip) for `coarse`; DATA/mapillary (research edition
v1.2: config.json, training/images/*.jpg) for `mapillary`. Weights: as the
teacher's (WEIGHTS/resnext50_32x4d.npz; wideresnet38.npz, resnet101.npz for
those students), converted once with
  python -m stseg_jax.models.convert_torch IN.pth ~/weights/OUT.npz

Measured (README, H200): the ResNeXt-50 step at crop 800 batch 16 bf16 is
0.207 s and 30.2 GB on one H200, so a ratio7 student (12K crops an epoch,
135K steps) is about 7.8 h of steps there, ratio1 about 1.3 h, the teacher 1.9 h.
"""
import re

import ml_collections

from configs import paper
from configs import runlocal

_FLAGS = ('coarse', 'mapillary', 'uniform', 'duplicate', 'teacher_b', 'runlocal')
_STUDENTS = ('wideresnet38', 'pspnet', 'fast_scnn')
# Each table's rows as arguments: the first is the ablation's own student, the
# others its variants on the same teacher and labels.
TABLES = {
    'table2a': ('ratio1', 'ratio3', 'ratio5', 'ratio7', 'ratio1,uniform', 'ratio3,uniform',
                'ratio5,uniform', 'ratio7,uniform'),
    'table2b': ('duplicate,ratio1', 'duplicate,ratio2', 'duplicate,ratio3'),
    'table3': ('ratio7', 'ratio7,wideresnet38', 'ratio7,fast_scnn', 'ratio7,pspnet'),
    'table11': ('ratio7,wideresnet38,teacher_b', 'ratio7,teacher_b',
                'ratio7,fast_scnn,teacher_b', 'ratio7,pspnet,teacher_b'),
}
VARIANTS = ('coarse,ratio1', 'mapillary,ratio1') + tuple(
    dict.fromkeys(row for rows in TABLES.values() for row in rows)) + tuple(TABLES)
REAL_ITEMS = 1500  # "we randomly pick half the training samples (1.5K)" per epoch


def _check(arg):
  known = _FLAGS + _STUDENTS + tuple(TABLES)
  tokens = [t for t in arg.split(',') if t]
  paper.arg_tokens(','.join(t for t in tokens if not re.fullmatch(r'ratio\d+', t)), known,
                   'cityscapes_students.py')
  return tokens


def get_config(arg='coarse,ratio1'):
  tokens = _check(arg)
  table = [t for t in tokens if t in TABLES]
  if table:
    return _ablation(table[0], tokens)
  c = paper.cityscapes('wideresnet38' if 'teacher_b' in tokens else 'resnext50')
  paper.teacher_labels(c)
  if 'mapillary' in tokens:
    c.unlabeled.name = 'mapillary'
    c.unlabeled.root = f'{paper.DATA}/mapillary'
    c.unlabeled.split = 'training'
  else:
    c.unlabeled.name = 'cityscapes_coarse'
    c.unlabeled.split = 'train_extra'
  c.student = student_overrides(','.join(tokens))
  if 'runlocal' in tokens:
    runlocal.shrink(c)
  return c


def student_overrides(arg):
  """config.student of a row: its network, ratio and sampling."""
  tokens = arg.split(',')
  ratio = next((int(t[5:]) for t in tokens if re.fullmatch(r'ratio\d+', t)), 1)
  student = ml_collections.ConfigDict()
  if 'duplicate' in tokens:  # all 2975 real images, repeated: sampled as the teacher samples
    student.pseudo = {'duplicate_real': True, 'ratio': float(ratio)}
  else:
    student.pseudo = {'ratio': float(ratio),
                      'class_uniform_fraction': 0.0 if 'uniform' in tokens else 1.0}
    student.train = {'epoch_items': REAL_ITEMS}
  network = next((t for t in tokens if t in _STUDENTS), 'resnext50')
  if network != ('wideresnet38' if 'teacher_b' in tokens else 'resnext50'):
    student.model = paper.model(network)  # else the teacher's network
  return student


def _ablation(table, tokens):
  rows = TABLES[table]
  extra = ','.join(t for t in tokens if t != table)  # e.g. runlocal
  c = get_config(','.join(filter(None, (rows[0], extra))))
  c.ablation = ml_collections.ConfigDict({
      'seeds': (0, 1, 2, 3, 4),
      'variants': {row.replace(',', '_'): {'student': _student_of(row, extra)}
                   for row in rows[1:]}})
  return c


def _student_of(row, extra):
  """The student section of `row` as its own config would have it (shrunk with runlocal)."""
  return get_config(','.join(filter(None, (row, extra)))).student.to_dict()
