"""Fast-SCNN on synthetic driving scenes: plain supervised training on a CPU.

  python -m stseg_jax.train --config=configs/synthetic_fastscnn.py --workdir=/tmp/synth

Needs no download; about 13 minutes on a 2-core CPU (mIoU 0.45 on val,
measured; see the README). The self-training demo (configs/demo.py), the
cross-domain and the crop-schedule accuracy configs build on this recipe.
"""
from configs import default


def get_config():
  c = default.get_config()
  c.model.name = 'fast_scnn'
  del c.model.backbone
  del c.model.output_stride
  c.data.name = 'synthetic'
  # 384x768 scenes: at 256x512 poles and traffic lights are 1-2 px wide,
  # below what Fast-SCNN's stride-8 features resolve.
  c.data.height, c.data.width = 384, 768
  c.data.num_train, c.data.num_val = 500, 100
  c.data.num_workers = 1
  c.train.num_epochs = 16
  c.train.crop_sizes = (256,)
  c.train.batch_size = 8
  c.train.base_lr = 0.05
  c.train.class_uniform_fraction = 0.5  # centroid sampling for the rare classes
  # OHEM's 100,000 pixels per image is more than a 256 crop has: it would keep
  # every pixel (config_check refuses that), so plain cross-entropy.
  c.loss.ohem = False
  c.eval.batch_size = 4
  c.log_every = 20
  c.eval_every = 248
  c.checkpoint_every = 248
  return c
