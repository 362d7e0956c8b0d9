"""benchmarks/fault_probe.py's cases, one test each: what a user meets on the command line
when a run is interrupted, rerun differently, or given bad input (README: Reliability)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                'benchmarks'))
import fault_probe  # pylint: disable=g-import-not-at-top,wrong-import-position


# shared_memory_released counts /dev/shm segments, which other tests' jobs also make.
_ALONE = ('shared_memory_released',)


@pytest.mark.parametrize('case', [pytest.param(c, marks=pytest.mark.alone) if c in _ALONE else c
                                  for c in fault_probe.CASES])
def test_fault_case(case, tmp_path):
  ok, status, outcome = fault_probe.run_case(case, str(tmp_path))
  if status is None and outcome.startswith('skipped'):
    pytest.skip(outcome)
  print(f"{case} | {status} | {outcome}")
  assert ok, outcome
