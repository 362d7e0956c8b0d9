"""Crop-size schedules of paper section 3.3 (Fig. 2, Table 4), their batch sizes, the epoch plan.

A schedule is the crop size of every epoch. Smaller crops buy bigger batches
at a fixed pixel budget (paper: batch 16 at 800, up to 64 at small crops), and
the learning rate follows images seen, not steps, so schedules with different
batch sizes decay alike (`poly_lr`, shared with the optimizer). The epoch
plan (`make_plan`) is the run: per epoch its crop, global batch and steps;
`position` finds a global step in it, which is how a resumed run finds its data.
"""
import dataclasses

from stseg_jax import errors
from stseg_jax.optim import poly_lr  # noqa: F401  One formula for the optimizer and here.

def _blocks(num_epochs, sizes):
  """Ascending sizes, each held for an equal run of epochs; spare epochs go to the largest."""
  per, spare = divmod(num_epochs, len(sizes))
  counts = [per + (k >= len(sizes) - spare) for k in range(len(sizes))]
  return [s for s, n in zip(sizes, counts) for _ in range(n)]


# name -> (num_epochs, ascending sizes) -> the crop of every epoch, warm-up aside
# (see crop_schedule for what the paper says of each).
SCHEDULES = {
    'constant': lambda num_epochs, sizes: [sizes[-1]] * num_epochs,
    'coarse2fine': _blocks,
    'fine2coarse': lambda num_epochs, sizes: _blocks(num_epochs, sizes)[::-1],
    'coarse2fine+': lambda num_epochs, sizes: [sizes[e % len(sizes)] for e in range(num_epochs)],
    'fine2coarse+': lambda num_epochs, sizes: [sizes[-1 - e % len(sizes)]
                                               for e in range(num_epochs)],
}


def crop_schedule(name, num_epochs, crop_sizes, warmup_epochs=0):
  """Crop size per epoch: `warmup_epochs` at the largest crop, then `name`.

  Paper section 3.3 (crop_sizes e.g. 400, 480, ..., 800):
  - constant: the largest crop every epoch (the baseline of Table 4).
  - coarse2fine: "we first use small crop sizes such as 400 in the early
    epochs, then change to 480, 560, 640, 720 and eventually 800 for the rest
    of the training. Each crop size stays constant for several epochs". Here
    each size gets num_epochs // len(sizes) epochs; the remainder goes to the
    largest sizes, one each.
  - fine2coarse: "a large crop size such as 800 in the early epochs, then
    change to 720, 640, 560, 480 and 400". Exactly coarse2fine reversed, so
    both spend the same epochs (and compute) at each size.
  - coarse2fine+: "we iterate the crop size every epoch to maximize the scale
    variation during model learning ... crop size 400 for epoch 0, 480 for
    epoch 1, 560 for epoch 2, and so on": the sizes in ascending order, one
    epoch each, cycled (a sawtooth 400..800, 400..800, ...).
  - fine2coarse+: "the reverse process of (3) where we start with a larger
    (finer) crop": the descending cycle 800..400, 800..400, ... . (The paper
    does not say what follows 800; a sawtooth is the reading under which the
    reverse differs from coarse2fine+ other than by phase.)
  Warm-up (Table 4, "a large crop size of 800 in the first 20 epochs") comes
  first; the schedule then starts afresh over the remaining epochs.
  """
  sizes = sorted(set(int(c) for c in crop_sizes))
  if not sizes:
    raise ValueError('crop_sizes is empty')
  if not 0 <= warmup_epochs <= num_epochs:
    raise ValueError(f'warmup_epochs={warmup_epochs} not in [0, num_epochs={num_epochs}]')
  if name not in SCHEDULES:
    raise ValueError(f'unknown crop schedule {name!r}; known: {", ".join(SCHEDULES)}')
  return [sizes[-1]] * warmup_epochs + SCHEDULES[name](num_epochs - warmup_epochs, sizes)


def batch_size_for_crop(crop, base_crop, base_batch, max_batch, multiple_of=1):
  """Batch at the pixel budget base_batch * base_crop^2, capped at max_batch.

  Floored to a multiple of `multiple_of` (the device count), never below it.
  """
  batch = min(base_batch * base_crop ** 2 // crop ** 2, max_batch)
  return max(multiple_of, batch // multiple_of * multiple_of)



@dataclasses.dataclass(frozen=True)
class EpochPlan:
  crop: int
  batch_size: int
  steps: int


def make_plan(train_config, items_per_epoch, num_devices):
  """Crop, global batch size and steps of every epoch of `items_per_epoch` items
  (data/mixture.py counts them), from config.train; batches split over `num_devices`."""
  t = train_config
  if t.batch_size % num_devices:
    raise errors.ConfigError(
        f'config.train.batch_size: {t.batch_size} does not split over {num_devices} devices '
        f'(use a multiple of {num_devices}, e.g. {-(-t.batch_size // num_devices) * num_devices})')
  crops = crop_schedule(t.schedule, t.num_epochs, list(t.crop_sizes), t.warmup_epochs)
  plan = []
  for crop in crops:
    batch = batch_size_for_crop(crop, max(t.crop_sizes), t.batch_size, t.max_batch_size,
                                multiple_of=num_devices)
    if items_per_epoch < batch:
      raise errors.ConfigError(
          f'config.train.epoch_items: {items_per_epoch} items cannot fill one batch of {batch}')
    plan.append(EpochPlan(crop, batch, items_per_epoch // batch))
  return plan


def position(plan, step):
  """(epoch, batch within epoch) of global step `step`."""
  for epoch, p in enumerate(plan):
    if step < p.steps:
      return epoch, step
    step -= p.steps
  return len(plan), 0
