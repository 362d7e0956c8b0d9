"""CamVid and KITTI finetuned from the self-trained Cityscapes student (section 4.4): `stseg_jax.train`.

  launch/tpu_pod.sh --tpu=NAME --zone=ZONE train --config=configs/camvid_kitti_finetune.py:camvid \\
      --workdir=gs://BUCKET/runs/camvid_finetune \\
      --config.train.init_from=gs://BUCKET/runs/cs_ratio7_wideresnet38/student
  sbatch --nodes=1 launch/slurm.sbatch train --config=configs/camvid_kitti_finetune.py:kitti \\
      --workdir=$HOME/runs/kitti_finetune
  python -m stseg_jax.train --config=configs/camvid_kitti_finetune.py:camvid,runlocal \\
      --workdir=/tmp/c --config.train.init_from=TEACHER_TWIN_WORKDIR

The start (train.init_from) is the DeepLabV3+ WideResNet-38 student of Table 3,
the WORKDIR/student/ of
  self_train --config=configs/cityscapes_students.py:ratio7,wideresnet38 \\
      --workdir=~/runs/cs_ratio7_wideresnet38
(default RUNS/cs_ratio7_wideresnet38/student, configs/paper.py): every weight
whose shape fits, the classifier fresh where the classes differ (CamVid's 11;
KITTI has Cityscapes' 19), SGD at the paper's finetuning LR 0.002, batch 16,
OHEM, section 4.2's augmentation. No ImageNet file is read: the start replaces
every backbone weight.

Arguments (`runlocal` may follow either, after a comma):
  camvid (default)  crop 640, 80 epochs, 367 train images; scored single-scale on
                    the 233 test images: Table 5, test mIoU 81.6
  kitti             crop 368, 50 epochs, 160 of the 200 training images; scored on
                    the other 40 (data/kitti.py's split: KITTI has no validation
                    set). Table 13's 71.41 IoU class is the test server's: train on
                    all 200 (--config.data.train_split=all) and submit the test images

Data: DATA/camvid in the SegNet layout (train.txt, test.txt listing image and
label paths, labels 0..10 and 11 void; data/camvid.py); DATA/kitti from
data_semantics.zip (training/image_2/*_10.png, training/semantic/*_10.png).

The SegNet CamVid frames are 360x480; the paper's crop 640 is for the 720x960
frames of [79], so they are upsampled 2x on load (data.resize_factor) and the
labels scored at that size (nearest, the same counts 4x). Not measured on an
H200; the crop 800 batch 16 WideResNet-38 step was not measured either.
"""
import os

from configs import paper
from configs import runlocal

VARIANTS = ('camvid', 'kitti')
START = os.path.join(paper.RUNS, 'cs_ratio7_wideresnet38', 'student')


def get_config(arg='camvid'):
  tokens = paper.arg_tokens(arg, VARIANTS + ('runlocal',), 'camvid_kitti_finetune.py')
  dataset = next((t for t in tokens if t in VARIANTS), 'camvid')
  c = paper.cityscapes('wideresnet38')
  c.model.pretrained = ''  # train.init_from replaces every backbone weight
  c.train.init_from = START
  c.train.base_lr = 0.002
  c.data.num_workers = 4
  if dataset == 'camvid':
    c.data.name, c.data.root = 'camvid', os.path.join(paper.DATA, 'camvid')
    c.data.train_split, c.data.eval_split = 'train', 'test'
    c.data.resize_factor = 2.0
    c.train.crop_sizes, c.train.num_epochs = (640,), 80
    steps_per_epoch = 367 // 16
  else:
    c.data.name, c.data.root = 'kitti', os.path.join(paper.DATA, 'kitti')
    c.data.train_split, c.data.eval_split = 'train', 'val'
    c.train.crop_sizes, c.train.num_epochs = (368,), 50
    steps_per_epoch = 160 // 16
  c.eval_every = c.checkpoint_every = 10 * steps_per_epoch
  c.log_every = steps_per_epoch
  if 'runlocal' in tokens:
    # WideResNet-38's step compiles for minutes on a 2-core CPU (and ran out
    # of memory there beside other jobs): the twin finetunes the same DeepLabV3+
    # family on ResNeXt-50, the backbone of the teacher twin it starts from.
    c.model = paper.model('resnext50')
    runlocal.shrink(c)
    # CamVid's classifier has other classes than the start's: the twin's 21
    # (lane markings, crosswalks) against the Cityscapes layout's 19.
    c.data.extra_classes = dataset == 'camvid'
  return c
