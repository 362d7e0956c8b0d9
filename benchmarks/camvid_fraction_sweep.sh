#!/usr/bin/env bash
# The CamVid labeled-fraction sweep (configs/camvid_fraction_sweep.py), in the order
# that answers first what matters most: 1/16 at seed 0 with the truth ceiling (the
# headroom the unlabeled frames leave over the control) and the online student, its
# seeds 1 and 2, the noise controls one at a time, then the other fractions at seed 0. Every call resumes (stages skip
# when complete) and adds its fraction, seeds and variant to DIR/ablation.json.
#
#   benchmarks/camvid_fraction_sweep.sh DIR
set -euo pipefail
cd "$(dirname "$0")/.."
DIR="${1:?usage: benchmarks/camvid_fraction_sweep.sh DIR}"
sweep() {  # sweep [:VARIANT] FRACTIONS SEEDS
  launch/local.sh ablation --config="configs/camvid_fraction_sweep.py$1" --workdir="$DIR" \
    --config.ablation.labeled_fractions="$2" --config.ablation.seeds="$3"
}
for seed in 0 1 2; do
  if [ "$seed" = 0 ]; then sweep '' '(0.0625,)' '(0,)'; else sweep :core '(0.0625,)' "($seed,)"; fi
  sweep :ceiling '(0.0625,)' "($seed,)"
  sweep :online '(0.0625,)' "($seed,)"
  sweep :online_balanced '(0.0625,)' "($seed,)"
done
sweep :controls '(0.0625,)' '(0,)'  # the noise controls one at a time (plain: shared with the first call)
sweep :ratio '(0.0625,)' '(0,)'  # 7:1 and its control: 4x the steps, about 3 hours on 2 cores
for fraction in 0.03125 0.125 0.25; do
  sweep '' "($fraction,)" '(0,)'
done
.venv/bin/python benchmarks/fraction_sweep_report.py "$DIR/ablation.json" \
  --json=benchmarks/cpu2_camvid_fraction_sweep.json --plot=benchmarks/cpu2_camvid_fraction_sweep.png
