"""Every field a run reads, with the paper's recipe as defaults (section 4.2).

Other configs start from this one and change what differs. Override any field
on the command line, e.g. `--config.train.num_epochs=4 --config.seed=1`.
"""
import ml_collections


def get_config():
  c = ml_collections.ConfigDict()
  c.seed = 0

  # Model: `name` and `pretrained` are ours, the rest go to models.create().
  c.model = ml_collections.ConfigDict()
  c.model.name = 'deeplabv3plus'
  c.model.backbone = 'resnext50_32x4d'
  c.model.output_stride = 8
  c.model.dtype = 'float32'  # compute dtype; params stay float32
  c.model.pretrained = ''  # torchvision/timm .pth or .npz for the backbone

  c.data = ml_collections.ConfigDict()
  c.data.name = 'synthetic'  # synthetic | camvid
  c.data.root = ''
  c.data.train_split = 'train'
  c.data.eval_split = 'val'
  # A held-out split every finished run is also scored on (WORKDIR/eval_<split>.json,
  # the self-training report), never used to choose a setting; '' = none.
  c.data.test_split = ''
  c.data.height = 256  # synthetic scenes only
  c.data.width = 512
  c.data.num_train = 500
  c.data.num_val = 100
  c.data.num_unlabeled = 2000
  c.data.domain = 'A'  # synthetic only: the city (B: another look, camera and roads)
  c.data.extra_classes = False  # synthetic only: lane markings and crosswalks get ids 19, 20
  c.data.source_seed = 0  # synthetic only: another seed, other scenes
  c.data.kshot = 0  # images per class of a '<split>_kshot' split (data/kshot.py)
  c.data.kshot_min_pixels = 64  # a class counts as present in an image from this many pixels
  c.data.split_seed = 0  # seeds the _labeled/_unlabeled and _kshot splits
  c.data.labeled_fraction = 0.25  # of a split, its <split>_labeled part (the rest: _unlabeled)
  c.data.labeled_sequences = ()  # instead: the images whose id starts with one of these
  c.data.resize_factor = 1.0  # every image and label resized on load (real datasets at 1/2 ...)
  c.data.resize_cache = False  # keep the resized items in memory (small datasets, num_workers=0)
  c.data.cache_dir = '~/.cache/stseg_jax/synthetic'  # rendered scenes; '' = none
  c.data.num_workers = 0  # grain worker processes; 0 = threads in-process

  c.augment = ml_collections.ConfigDict()
  c.augment.scale_range = (0.5, 2.0)
  c.augment.flip = True
  c.augment.blur_prob = 0.5
  c.augment.color_jitter = 0.1
  c.augment.grayscale_prob = 0.0  # a crop turned grey (strong augmentation)
  c.augment.center_jitter = 0.1
  c.augment.ignore_label = 255  # fixed: stseg_jax/data/labels.py (checked, not read)

  c.train = ml_collections.ConfigDict()
  c.train.num_epochs = 10
  c.train.epoch_items = 0  # crops per epoch; 0 = size of the train split
  c.train.crop_sizes = (800,)
  c.train.schedule = 'constant'
  c.train.warmup_epochs = 0
  c.train.batch_size = 16  # global batch at the largest crop
  c.train.max_batch_size = 64  # smaller crops get bigger batches up to this
  c.train.class_uniform_fraction = 0.0  # centroid sampling share of items
  c.train.centroid_min_pixels = 0  # regions smaller than this get no centroid
  c.train.base_lr = 0.02  # 0.002 when finetuning
  c.train.momentum = 0.9
  c.train.weight_decay = 1e-4
  c.train.lr_power = 0.9
  c.train.warmup_images = 0
  # A small crop's bigger batch gets lr * (batch / batch_size)^p: 0 = one LR for
  # every bucket (the paper states no scaling), 0.5 = sqrt, 1 = linear rule.
  c.train.lr_batch_power = 0.0
  c.train.init_from = ''  # a workdir to finetune from (its latest checkpoint's weights)
  c.train.stop_at_step = 0  # stop early as if preempted (tests); 0 = never

  # The unlabeled set a teacher labels (stseg_jax.pseudo_label); empty name and
  # root mean the same dataset as `data`.
  c.unlabeled = ml_collections.ConfigDict()
  c.unlabeled.name = ''
  c.unlabeled.root = ''
  c.unlabeled.split = 'unlabeled'
  c.unlabeled.domain = ''  # synthetic only: label another domain's scenes

  c.pseudo_label = ml_collections.ConfigDict()
  c.pseudo_label.name = 'pseudo'
  c.pseudo_label.images_per_shard = 256
  c.pseudo_label.confidence_threshold = 0.0  # >0: less confident pixels ignored
  c.pseudo_label.store_confidence = False
  c.pseudo_label.soft_topk = 0  # >0: also store the K most likely classes' probabilities
  # How the teacher predicts the labels, apart from how models are scored
  # (c.inference below). The paper labels with scales (0.5, 1.0, 2.0) and
  # flips; these defaults are the cheap single pass.
  c.pseudo_label.inference = ml_collections.ConfigDict()
  c.pseudo_label.inference.scales = (1.0,)
  c.pseudo_label.inference.flip = False
  c.pseudo_label.inference.tile_size = (0, 0)
  c.pseudo_label.inference.tile_overlap = 1 / 3
  c.pseudo_label.inference.tile_batch = 8

  # Test-time recipe for evaluation and pseudo labels. The paper's: scales
  # (0.5, 1.0, 2.0), flip, overlapping tiles; tile_size (0, 0) = whole image.
  c.inference = ml_collections.ConfigDict()
  c.inference.scales = (1.0,)
  c.inference.flip = False
  c.inference.tile_size = (0, 0)
  c.inference.tile_overlap = 1 / 3
  c.inference.tile_batch = 8

  # Pseudo labels for a student (the output of stseg_jax.pseudo_label).
  c.pseudo = ml_collections.ConfigDict()
  c.pseudo.dir = ''  # a pseudo_label workdir; '' = train on real labels only
  c.pseudo.name = 'pseudo'
  c.pseudo.teacher = ''  # if set, the labels must come from this teacher workdir
  c.pseudo.only = False  # pseudo items only (pre-training, Table 8); real ones left out
  c.pseudo.duplicate_real = False  # baseline (Table 2b): real labels again in place of pseudo
  c.pseudo.ratio = 3.0  # pseudo items per real item in each epoch (Table 2a)
  c.pseudo.class_uniform_fraction = 1.0  # centroid sampling on pseudo labels
  # Regions of pseudo labels smaller than this get no centroid: in the demo's
  # labels 57% of the regions were under 64 pixels, and the ground truth at
  # their centroids matched the class for 23% of them.
  c.pseudo.centroid_min_pixels = 64
  # Pixels dropped to ignore when the student reads the labels (need labels
  # made with pseudo_label.store_confidence): below a confidence, or per class
  # outside its most confident fraction (data/pseudo/filters.py); 0 = off.
  c.pseudo.confidence_threshold = 0.0
  c.pseudo.class_keep_fraction = 0.0
  # class_keep_fraction's control: per class as many pixels as it keeps, at random.
  c.pseudo.class_keep_random_fraction = 0.0
  # Strong augmentation of the pseudo-labelled crops only (ST++): these
  # augment fields instead of c.augment's, plus CutMix between pseudo crops.
  c.pseudo.strong_augment = False
  c.pseudo.augment = ml_collections.ConfigDict(
      {'color_jitter': 0.5, 'grayscale_prob': 0.2, 'blur_prob': 0.5, 'cutmix_prob': 0.5})
  # Soft labels (Table 7): cross-entropy to the teacher's top-K probabilities
  # (needs labels made with pseudo_label.soft_topk > 0); real crops count one-hot.
  c.pseudo.soft = False
  # Online self-training (stseg_jax/online.py; self_training.mode='online' sets
  # it for the student): the second stream is config.unlabeled's images, and
  # an EMA of the student labels their weak view in the step, where at least
  # this confident; the student learns their strong view (pseudo.augment, with
  # its cutmix_prob).
  c.pseudo.online = False
  c.pseudo.online_threshold = 0.95  # UniMatch's
  # Also keep, per class, its most confident fraction of each batch's unlabeled
  # pixels, below the threshold (class-balanced, as pseudo.class_keep_fraction); 0 = off.
  c.pseudo.online_class_keep_fraction = 0.0
  c.pseudo.ema_decay = 0.999
  # The ceiling of self-training on config.unlabeled's images (their split must
  # have labels, as CamVid's rest of train and the synthetic scenes have): their
  # true labels in place of a teacher's, everything else as the student's
  # (configs/camvid_fraction_sweep.py:ceiling). Not a method: a measurement.
  c.pseudo.unlabeled_truth = False

  # stseg_jax.self_train: teacher-student loops (Table 9); `student` holds the
  # fields the student overrides (e.g. student.model.name, student.pseudo.ratio).
  c.self_training = ml_collections.ConfigDict()
  c.self_training.loops = 1
  # 'joint', 'pretrain_finetune' (Table 8), or 'online' (no labels stage: the
  # student's own EMA teacher labels the unlabeled images as it trains).
  c.self_training.mode = 'joint'
  # The student starts from the teacher's weights (train.init_from) rather
  # than from scratch (or a pretrained backbone) as in the paper.
  c.self_training.student_from_teacher = False
  # Before any student: check the teacher is in the regime self-training can
  # help (stseg_jax/gates.py); with an oracle split, train an oracle on all
  # of it first (e.g. 'train' when the teacher has 'train_labeled').
  c.self_training.gates = False
  c.self_training.oracle_split = ''
  # The split the gates score teacher and oracle on ('' = data.eval_split): a
  # held-out one may judge the regime, since no student exists yet.
  c.self_training.gate_split = ''
  # A control/ stage beside the student: its recipe and steps, the real labels
  # repeated where the pseudo ones were (paper Table 2b), in the report.
  c.self_training.duplicate_real_control = False
  # Overrides for the finetuning stage of 'pretrain_finetune' (paper: LR 0.002).
  c.finetune = ml_collections.ConfigDict({'train': {'base_lr': 0.002}})
  # Cross-domain (section 3.4): overrides for finetuning on the target domain's
  # labels, from the teacher and from the student; empty = no target stages.
  c.target = ml_collections.ConfigDict()
  c.student = ml_collections.ConfigDict()

  c.loss = ml_collections.ConfigDict()
  c.loss.ohem = True
  c.loss.ohem_thresh = 0.7
  c.loss.ohem_min_kept = 100_000  # per image, as mmsegmentation counts it
  # OHEM ranks pseudo-labelled pixels too (the paper's single recipe). Off:
  # they all count, as the teacher's hard pixels are mostly its mistakes
  # (demo labels: OHEM kept 85-87% of the wrong ones).
  c.loss.ohem_pseudo = False
  c.loss.aux_weight = 0.4
  c.loss.class_weighting = ''  # '' | 'enet' | 'median_frequency' (losses.class_weights)

  c.eval = ml_collections.ConfigDict()
  c.eval.batch_size = 8
  c.eval.max_images = 0  # 0 = the whole split
  c.eval.num_visuals = 4  # colourised predictions saved per eval (WORKDIR/visuals/)
  c.eval.instance_metrics = False  # Cityscapes iIoU + category scores (gtFine instanceIds)

  # Resume a workdir although the config changed in fields that change what
  # is trained, or start over when none of its checkpoints reads back
  # (stseg_jax/workdir.py); off, both stop with the reason.
  c.resume_anyway = False
  c.profile_steps = 0  # >0: jax.profiler trace of that many steps into WORKDIR/profile
  c.log_every = 50
  c.eval_every = 1000
  c.checkpoint_every = 1000
  c.keep_checkpoints = 3
  return c
