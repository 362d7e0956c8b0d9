"""The Cityscapes teacher (Table 1) and the Table 3 baselines: `stseg_jax.train`, paper scale.

  launch/tpu_pod.sh --tpu=NAME --zone=ZONE train --config=configs/cityscapes_teacher.py \\
      --workdir=gs://BUCKET/runs/cityscapes_teacher
  sbatch --nodes=1 launch/slurm.sbatch train --config=configs/cityscapes_teacher.py \\
      --workdir=$HOME/runs/cityscapes_teacher
  python -m stseg_jax.train --config=configs/cityscapes_teacher.py:runlocal --workdir=/tmp/t

DeepLabV3+ ResNeXt-50 (output stride 8) from ImageNet weights on the 2975
fine train images: crop 800, batch 16 (synchronized BN over the global batch),
180 epochs (33,300 steps), SGD LR 0.02 poly 0.9, OHEM, scale 0.5-2.0, flip,
blur, colour jitter 0.1 (section 4.2). Scored on val, single scale.

Arguments (after the colon; `runlocal` may follow any, after a comma):
  resnext50      (default) teacher A, Table 1: val mIoU 78.1
  wideresnet38   DeepLabV3+ WideResNet-38: Table 3 baseline 80.5, teacher B of Table 11
  pspnet         PSPNet ResNet-101: Table 3 baseline 77.9
  fast_scnn      Fast-SCNN from scratch: Table 3 baseline 68.6
  runlocal       the CPU twin: synthetic scenes, one step (configs/runlocal.py)

Data: DATA/cityscapes (configs/paper.py) as unzipped from cityscapes-dataset.com,
  leftImg8bit/{train,val}/<city>/*_leftImg8bit.png
  gtFine/{train,val}/<city>/*_gtFine_labelIds.png
or a tfds build: `--config.data.name=cityscapes_tfds --config.data.root=TFDS_DATA_DIR`
(`tfds build cityscapes/semantic_segmentation --data_dir=TFDS_DATA_DIR
--manual_dir=ZIPS --file_format=array_record`, once, with TensorFlow).

Weights: WEIGHTS/resnext50_32x4d.npz from torchvision's ImageNet .pth, once:
  python -m stseg_jax.models.convert_torch resnext50_32x4d.pth ~/weights/resnext50_32x4d.npz
(wideresnet38.npz and resnet101.npz likewise; Fast-SCNN needs none). A missing
file stops the run at start-up with one line naming model.pretrained.

Measured (README, "On a GPU: NVIDIA H200"): one H200 holding the whole batch
of 16 at crop 800, bf16: 0.207 s/step and 30.2 GB peak (ResNet-50: 0.192 s,
24.4 GB), so about 1.9 h of steps for the 33,300 (evaluations and input not
counted). PSPNet, WideResNet-38 and Fast-SCNN were not measured here.
"""
from configs import paper
from configs import runlocal

VARIANTS = ('resnext50', 'wideresnet38', 'pspnet', 'fast_scnn')


def get_config(arg='resnext50'):
  tokens = paper.arg_tokens(arg, VARIANTS + ('runlocal',), 'cityscapes_teacher.py')
  models = [t for t in tokens if t in VARIANTS] or ['resnext50']
  c = paper.cityscapes(models[0])
  if 'runlocal' in tokens:
    runlocal.shrink(c)
  return c
