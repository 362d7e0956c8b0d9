"""Self-training for semantic segmentation in JAX/Flax.

A teacher trained on labeled images labels unlabeled ones; a student trains
on real and pseudo labels together, with class-uniform centroid sampling and
crop-size schedules (Zhu et al., "Improving Semantic Segmentation via
Self-Training"). Jobs on top, libraries below; imports go one way.

Jobs (each `python -m stseg_jax.<job> --config=... --workdir=...`, through cli.py):
  train.py          train and evaluate one model: the loop, the step factory
                    (make_step_fn), a bucket's compiled step, progress lines
  evaluate.py       a checkpoint on a split: the Evaluator (confusion matrix on
                    device, iIoU), WORKDIR/eval.json
  pseudo_label.py   the pseudo-label writer: a teacher labels the unlabeled set
                    into sharded TFRecords, provenance and a manifest
  self_train.py     the workflow: runs stages.py's stages (teacher, oracle and
                    gates, pseudo labels, student, control, targets), report
  ablation.py       student variants over seeds (and labeled fractions) beside
                    one shared teacher per seed; differences paired by seed
  pseudo_quality.py pseudo labels scored against the unlabeled set's own truth
                    (per class, per pixel filter, at the centroids)
  bench/            benchmarks: crop_schedules (step time, MFU, schedule
                    speedups), suite (the accelerator's parts under time caps,
                    with a profile reduced to top ops), torch_peer,
                    step_profile, pipeline, inference; timing.py holds their tools

Training:
  train_state.py    TrainState (OnlineTrainState), a fresh state, init from another run, and
                    `restore`: a run's model and weights for inference
  online.py         online self-training: the EMA teacher, its confident labels
                    of the weak views, CutMix of the strong ones, in the step
  losses.py         cross-entropy, OHEM (pseudo pixels exempt), soft targets,
                    class weights
  optim.py          SGD direction and the poly LR over images seen
  schedules.py      crop schedules (coarse2fine, ...), batch size per crop, and
                    the epoch plan (EpochPlan, make_plan, position)
  checkpoints.py    orbax checkpoints: resume, damage, quarantine, load_variables
  workdir.py        a run's folder and reliability: one job per workdir, saved
                    config, resume checks, preemption exit code, whole-file
                    writes; preemption.py (SIGTERM, Ctrl-C), profiler.py (traces)
  stages.py         the workflow as data: stages(config, workdir) -> [Stage]
  gates.py          is the teacher in the regime self-training helps?
  config_check.py   config validation up front; errors.py: ConfigError, DataError
  sharding.py, distributed.py, host_memory.py   devices, processes, host memory

Inference and scoring:
  inference.py      whole-image inference: the one forward (predict_logits),
                    scales, flips, tiles (Predictor, InferenceConfig)
  metrics.py        confusion matrix, mIoU; instance_metrics.py: Cityscapes iIoU
  visualize.py      colorize, prediction strips, mIoU curves; synthetic_preview.py:
                    sample synthetic scenes over their labels
  metric_writer.py  metrics.jsonl and TensorBoard, and their reader (eval_curve)
  progress.py       console progress lines with an ETA (training, labelling)

Models (models/): create(name) for DeepLabV3+, PSPNet, Fast-SCNN; backbones
  (resnet, wideresnet38, efficientnet_lite), normalize (the input), layers,
  conv and resize kernels, batch_norm, convert_torch (pretrained weights),
  summary (parameters, FLOPs).

Data (data/):
  sources.py        open_source(config.data, split): every dataset, splits
                    (_labeled/_unlabeled, _kshot), resizing
  synthetic/        the download-free synthetic street scenes (SyntheticSource)
  camvid.py, cityscapes.py, kitti.py, mapillary.py, bdd100k.py, image_io.py
  labels.py         IGNORE_LABEL, the one ignore label; palette.py: the Cityscapes
                    colours (every source has its `palette`)
  sampler.py        uniform and class-uniform items of an epoch (paper 3.2)
  centroids.py      the centroid index: region centroids per class, cached
  mixture.py        the real/pseudo (or unlabeled) mixture: streams, items per epoch, an
                    epoch's draws, each stream's centroid index
  pipeline.py       grain pipelines: augmented training crops, eval batches;
                    augment.py: scale, crop, flip, blur, colour, CutMix options
  pseudo/           pseudo labels: the TFRecord container and record codec, the
                    Manifest, the shards' source, filters.py (which pixels
                    count), the student's source (pseudo/__init__.py maps it)
  class_stats.py, kshot.py   class pixel counts, k-shot subsets
"""
from stseg_jax import host_memory

host_memory.apply()
