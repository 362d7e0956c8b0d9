"""Crop schedules of paper section 3.3, written out epoch by epoch."""
import ml_collections
import pytest

from stseg_jax import errors
from stseg_jax import optim
from stseg_jax import schedules

CROPS = [400, 480, 560, 640, 720, 800]


@pytest.mark.parametrize('name,expected', [
    ('constant', [800] * 10),
    # 8 epochs after warm-up over 6 sizes: one each, the 2 spare to 720 and 800.
    ('coarse2fine', [800, 800, 400, 480, 560, 640, 720, 720, 800, 800]),
    ('fine2coarse', [800, 800, 800, 800, 720, 720, 640, 560, 480, 400]),
    ('coarse2fine+', [800, 800, 400, 480, 560, 640, 720, 800, 400, 480]),
    ('fine2coarse+', [800, 800, 800, 720, 640, 560, 480, 400, 800, 720]),
])
def test_schedules_with_warmup(name, expected):
  assert schedules.crop_schedule(name, 10, CROPS, warmup_epochs=2) == expected


def test_schedules_without_warmup():
  assert schedules.crop_schedule('coarse2fine', 12, CROPS) == [
      400, 400, 480, 480, 560, 560, 640, 640, 720, 720, 800, 800]
  assert schedules.crop_schedule('coarse2fine+', 7, CROPS) == [400, 480, 560, 640, 720, 800, 400]
  assert schedules.crop_schedule('fine2coarse+', 3, CROPS[::-1]) == [800, 720, 640]
  assert schedules.crop_schedule('coarse2fine', 3, CROPS) == [640, 720, 800]


def test_paper_cityscapes_setting():
  # 180 epochs, the first 20 at 800 (Table 4 "w warm-up").
  plan = schedules.crop_schedule('coarse2fine+', 180, CROPS, warmup_epochs=20)
  assert len(plan) == 180 and plan[:20] == [800] * 20 and plan[20:26] == CROPS
  for name in ('coarse2fine', 'fine2coarse', 'coarse2fine+', 'fine2coarse+'):
    # 160 epochs over 6 sizes: 26 or 27 each.
    assert schedules.crop_schedule(name, 180, CROPS, 20)[20:].count(400) in (26, 27)


def test_unknown_schedule_lists_names():
  with pytest.raises(ValueError, match='coarse2fine\\+'):
    schedules.crop_schedule('zigzag', 10, CROPS)


def test_batch_size_for_crop():
  bs = lambda crop, **kw: schedules.batch_size_for_crop(crop, 800, 16, 64, **kw)
  assert bs(800) == 16
  assert bs(400) == 64  # 16 * (800 / 400)^2.
  assert bs(480) == 44  # floor(16 * 640000 / 230400) = floor(44.4).
  assert bs(480, multiple_of=8) == 40
  assert bs(560) == 32  # floor(32.65).
  assert bs(720) == 19  # floor(19.75).
  assert bs(200) == 64  # 256 capped.
  assert bs(1600, multiple_of=8) == 8  # Never below one per device.


def test_epoch_plan_and_position_by_hand():
  train = ml_collections.ConfigDict(dict(schedule='coarse2fine', num_epochs=2, warmup_epochs=0,
                                         crop_sizes=(400, 800), batch_size=16, max_batch_size=64))
  plan = schedules.make_plan(train, 100, 8)  # 400: 16 * 4 = 64 a batch, 1 step; 800: 6 of 16
  assert plan == [schedules.EpochPlan(400, 64, 1), schedules.EpochPlan(800, 16, 6)]
  assert [schedules.position(plan, s) for s in (0, 1, 6, 7)] == [(0, 0), (1, 0), (1, 5), (2, 0)]
  with pytest.raises(errors.ConfigError, match='epoch_items: 20 items cannot fill one batch of 64'):
    schedules.make_plan(train, 20, 8)


def test_poly_lr_is_the_optimizer_formula():
  assert schedules.poly_lr is optim.poly_lr
  # Equal images seen, equal learning rate, whatever the batch size.
  four_steps_of_16 = float(schedules.poly_lr(4 * 16, 1000, 0.02))
  assert four_steps_of_16 == float(schedules.poly_lr(1 * 64, 1000, 0.02))
  assert float(schedules.poly_lr(500, 1000, 0.02)) == pytest.approx(0.02 * 0.5 ** 0.9)
