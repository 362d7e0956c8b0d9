#!/usr/bin/env bash
# The CamVid labeled-fraction sweep (configs/camvid_fraction_sweep.py), in the order
# that answers first what matters most: 1/16 at seed 0, its seeds 1 and 2, then the
# other fractions at seed 0. Every call resumes (stages skip when complete) and adds
# its fraction and seeds to DIR/ablation.json.
#
#   benchmarks/camvid_fraction_sweep.sh DIR
set -euo pipefail
cd "$(dirname "$0")/.."
DIR="${1:?usage: benchmarks/camvid_fraction_sweep.sh DIR}"
sweep() {
  launch/local.sh ablation --config=configs/camvid_fraction_sweep.py --workdir="$DIR" \
    --config.ablation.labeled_fractions="$1" --config.ablation.seeds="$2"
}
sweep '(0.0625,)' '(0,)'
sweep '(0.0625,)' '(1,)'
sweep '(0.0625,)' '(2,)'
sweep '(0.03125,)' '(0,)'
sweep '(0.125,)' '(0,)'
sweep '(0.25,)' '(0,)'
