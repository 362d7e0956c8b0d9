"""Cross-domain generalization with new categories (sections 3.4, 4.5; Fig. 3, Table 12): `stseg_jax.self_train`.

  launch/tpu_pod.sh --tpu=NAME --zone=ZONE self_train \\
      --config=configs/crossdomain_kshot.py:bdd100k,10shot --workdir=gs://BUCKET/runs/bdd_10shot
  sbatch --nodes=1 launch/slurm.sbatch self_train \\
      --config=configs/crossdomain_kshot.py:mapillary,tenth --workdir=$HOME/runs/mapillary_tenth
  python -m stseg_jax.self_train --config=configs/crossdomain_kshot.py:runlocal --workdir=/tmp/x

Source Cityscapes, target Mapillary (65 classes, most of them new) or BDD100K
(Cityscapes' 19 classes, US streets). Stages (self_train.py): the Cityscapes
teacher (WORKDIR/teacher/); its labels on the target's training images, labels
never read (WORKDIR/labels/); the student on Cityscapes' real labels and those
pseudo labels (1.5K real + 10.5K pseudo crops an epoch, the paper's setting
"for the rest of our experiments"); then both finetuned on the target's
labeled subset, classifier fresh where the classes differ, at the finetuning
LR 0.002 (WORKDIR/target_from_teacher/ is "finetuning", WORKDIR/target_from_student/
"self-training"), scored on the target's validation images: WORKDIR/report.md,
"Target domain". As the paper says, "we do not use OHEM loss and other
non-default training options" here: plain cross-entropy, crop 800 throughout.

Arguments, comma-separated:
  mapillary (default) | bdd100k
  10shot (default)  10 labeled images per class (data/kshot.py, a seeded choice;
                    the paper's splits were not released)
  tenth | fifth | half | full   that fraction of the target's training images
  runlocal          the CPU twin (configs/runlocal.py): another synthetic city
                    with two new classes

Paper figures (target val mIoU, finetuning -> self-training): Mapillary 10shot
26.0 -> 33.3, tenth -> 37.8 (Fig. 3; the other points are only plotted);
BDD100K 10shot 51.4 -> 58.9, full 62.3 -> 65.7 (Table 12).

The teacher labels the target images in its own 19 classes; the k-shot
finetuning then learns the target's classes (Mapillary's 65, BDD100K's 19).

Data: DATA/cityscapes as for configs/cityscapes_teacher.py; DATA/mapillary
(config.json, {training,validation}/images, .../labels) or DATA/bdd100k
(images/10k/{train,val}, labels/sem_seg/masks/{train,val}). Weights:
WEIGHTS/resnext50_32x4d.npz, converted once:
  python -m stseg_jax.models.convert_torch resnext50_32x4d.pth ~/weights/resnext50_32x4d.npz
Measured (README, H200): the ResNeXt-50 step with OHEM at crop 800 batch 16
bf16 is 0.207 s and 30.2 GB on one H200; without OHEM it was not measured.
"""
import os

import ml_collections

from configs import cityscapes_students
from configs import paper
from configs import runlocal

_SIZES = {'10shot': None, 'tenth': 0.1, 'fifth': 0.2, 'half': 0.5, 'full': 1.0}
_TARGETS = {'mapillary': ('training', 18000), 'bdd100k': ('train', 7000)}
VARIANTS = tuple(f'{t},{s}' for t in _TARGETS for s in _SIZES)


def get_config(arg='mapillary,10shot'):
  tokens = paper.arg_tokens(arg, tuple(_TARGETS) + tuple(_SIZES) + ('runlocal',),
                            'crossdomain_kshot.py')
  target = next((t for t in tokens if t in _TARGETS), 'mapillary')
  size = next((t for t in tokens if t in _SIZES), '10shot')
  c = cityscapes_students.get_config('coarse,ratio7')
  c.loss.ohem = False
  c.unlabeled.name, c.unlabeled.root = target, os.path.join(paper.DATA, target)
  c.unlabeled.split = _TARGETS[target][0]
  data = {'name': target, 'root': os.path.join(paper.DATA, target), 'eval_split': 'val',
          'resize_factor': 1.0}
  fraction = _SIZES[size]
  if fraction is None:
    data.update(train_split='train_kshot', kshot=10)
  elif fraction < 1:
    data.update(train_split='train_labeled', labeled_fraction=fraction)
  else:
    data.update(train_split='train')
  c.target = ml_collections.ConfigDict({
      'data': data,
      # The paper's finetuning LR and its 180 epochs, every labeled target image once an epoch.
      'train': {'base_lr': 0.002, 'num_epochs': 180, 'epoch_items': 0},
  })
  if target == 'mapillary':  # images up to 4000+ px: scored in tiles
    c.target.inference = {'tile_size': (1024, 1024)}
  if 'runlocal' in tokens:
    runlocal.shrink(c, domain_b=True)
  return c
