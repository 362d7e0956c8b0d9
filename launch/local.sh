#!/usr/bin/env bash
# Single-host launcher: creates .venv on first use, then runs a job or the tests.
#
#   launch/local.sh train --config=configs/demo.py --workdir=/tmp/demo
#   launch/local.sh evaluate --config=configs/demo.py --workdir=/tmp/demo
#   launch/local.sh test [pytest args]
#
# `test` without arguments runs the suite on STSEG_TEST_WORKERS processes (2,
# the CI machine's cores; one test module per process at a time), then the
# tests marked `alone` (they read machine-wide state) by themselves. With
# arguments it is plain pytest on them.
# Any stseg_jax.<job> works as the first argument. STSEG_VENV picks the venv.
# --dry-run (first) prints the command instead of setting up and running it.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${STSEG_VENV:-.venv}"

setup() {
  if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
  fi
  # Reinstall only when a requirements file changed since the last install.
  local stamp="$VENV/.stseg-installed"
  if [ "$1" = test ]; then stamp="$stamp-test"; fi
  if [ ! -f "$stamp" ] || [ requirements.txt -nt "$stamp" ] || \
     { [ "$1" = test ] && { [ requirements-torch.txt -nt "$stamp" ] || \
                            [ requirements-test-extra.txt -nt "$stamp" ]; }; }; then
    "$VENV/bin/pip" install -q -r requirements.txt
    if [ "$1" = test ]; then
      # Optional: tensorflow (tf.data compatibility) and cityscapesscripts (iIoU
      # cross-check); their tests are skipped without them.
      "$VENV/bin/pip" install -q -r requirements-test-extra.txt || \
        echo "test extras not installed: their tests will be skipped"
      if [ -z "${STSEG_NO_TORCH:-}" ]; then
        # Optional: the torchvision-equivalence tests (skipped without).
        "$VENV/bin/pip" install -q -r requirements-torch.txt || \
          echo "torch not installed: the torch-equivalence tests will be skipped"
      fi
    fi
    touch "$stamp"
  fi
}

dry_run=""
if [ "${1:-}" = --dry-run ]; then dry_run=1; shift; fi
job="${1:?usage: launch/local.sh [--dry-run] <job|test> [args]}"
shift
if [ "$job" = test ]; then
  # A passed test's tmp_path is deleted as it ends: the config twins write checkpoints
  # of the full-size models (280 MB each, 7 GB a run), and pytest keeps three runs'.
  pytest=("$VENV/bin/python" -m pytest -q -o tmp_path_retention_policy=failed)
  if [ $# -eq 0 ]; then
    # A worker that crashes fails the run at once (a restarted one can leave it waiting).
    cmd=("${pytest[@]}" -n "${STSEG_TEST_WORKERS:-2}" --dist loadscope --max-worker-restart=0
         -m "not alone" tests)
    alone=("${pytest[@]}" -m alone tests)
  else
    cmd=("${pytest[@]}" "$@")
  fi
else
  cmd=("$VENV/bin/python" -m "stseg_jax.$job" "$@")
  # XLA's persistent cache keeps each crop bucket's compiled step between runs:
  # a rerun, or a run after `bench` of the same model and crops, skips its compiles.
  export JAX_COMPILATION_CACHE_DIR="${JAX_COMPILATION_CACHE_DIR:-$HOME/.cache/stseg_jax/xla}"
fi
if [ -n "$dry_run" ]; then
  printf '%q ' "${cmd[@]}"; echo
  if [ -n "${alone:-}" ]; then printf '%q ' "${alone[@]}"; echo; fi
  exit 0
fi
setup "$job"
if [ -n "${alone:-}" ]; then
  status=0
  "${cmd[@]}" || status=$?
  "${alone[@]}" || status=$?
  exit "$status"
fi
exec "${cmd[@]}"
