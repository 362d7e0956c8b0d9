#!/usr/bin/env bash
# The CamVid labeled-fraction sweep (configs/camvid_fraction_sweep.py), in the order
# that answers first what matters most: 1/16 at three seeds (the must-show's paired
# means), the truth ceiling and both online students at seed 0, the ceiling at seeds 2
# and 1, the other fractions at seed 0 (the sweep itself), both online students at seeds
# 2 and 1, the noise controls one at a time and 7:1. Every call resumes (stages skip when
# complete) and adds its fraction, seeds and variant to DIR/ablation.json.
#
#   benchmarks/camvid_fraction_sweep.sh DIR
set -euo pipefail
cd "$(dirname "$0")/.."
DIR="${1:?usage: benchmarks/camvid_fraction_sweep.sh DIR}"
sweep() {  # sweep [:VARIANT] FRACTIONS SEEDS
  launch/local.sh ablation --config="configs/camvid_fraction_sweep.py$1" --workdir="$DIR" \
    --config.ablation.labeled_fractions="$2" --config.ablation.seeds="$3"
}
sweep '' '(0.0625,)' '(0,)'  # with the plain student, which :controls shares
for seed in 1 2; do sweep :core '(0.0625,)' "($seed,)"; done
for variant in online_balanced online ceiling; do sweep ":$variant" '(0.0625,)' '(0,)'; done
for seed in 2 1; do sweep :ceiling '(0.0625,)' "($seed,)"; done  # +1.0 over the control at seed 0
for fraction in 0.03125 0.125 0.25; do sweep :core "($fraction,)" '(0,)'; done
for variant in online online_balanced; do
  for seed in 2 1; do sweep ":$variant" '(0.0625,)' "($seed,)"; done
done
sweep :controls '(0.0625,)' '(0,)'  # the noise controls one at a time
sweep :ratio '(0.0625,)' '(0,)'  # 7:1 and its control: 4x the steps, about 3 hours on 2 cores
.venv/bin/python benchmarks/fraction_sweep_report.py "$DIR/ablation.json" \
  --json=benchmarks/cpu2_camvid_fraction_sweep.json --plot=benchmarks/cpu2_camvid_fraction_sweep.png
