#!/usr/bin/env bash
# The accelerator suite on a lent GPU, as one capped command (issue 26).
#
#   benchmarks/gpu_suite.sh OUT      # on the device machine, from the repository root
#
# Installs the wheels carried in .whl/ (what the device's image lacks; fetched here by
# benchmarks/gpu_wheels.sh) into /tmp/site, then runs stseg_jax.bench.suite (its parts'
# caps sum to 8 minutes) with its workdir in /tmp, and copies suite.json and the log to OUT.
set -uo pipefail
OUT="${1:?usage: benchmarks/gpu_suite.sh OUT}"
mkdir -p "$OUT"
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
PYTHONUNBUFFERED=1 timeout 560 python3 -m stseg_jax.bench.suite \
  --config=configs/bench_suite.py --workdir=/tmp/suite 2>&1 | tee "$OUT/suite.log"
status=${PIPESTATUS[0]}
cp /tmp/suite/suite.json "$OUT/" 2>/dev/null
exit "$status"
