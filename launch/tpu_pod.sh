#!/usr/bin/env bash
# Cloud TPU pod slice: copy the repo to every worker, set up its venv, run a job.
#
#   launch/tpu_pod.sh --tpu=NAME --zone=ZONE [--project=P] [--dry-run] [--no-setup] \
#       JOB --config=... --workdir=gs://bucket/run [...]
#
# Every worker runs the same command; JAX discovers the pod itself
# (STSEG_DISTRIBUTED=auto makes the job call jax.distributed.initialize()).
set -euo pipefail
cd "$(dirname "$0")/.."
tpu="" zone="" project="" dry_run="" setup=1
while [[ $# -gt 0 && "$1" == --* ]]; do
  case "$1" in
    --tpu=*) tpu="${1#*=}" ;;
    --zone=*) zone="${1#*=}" ;;
    --project=*) project="${1#*=}" ;;
    --dry-run) dry_run=1 ;;
    --no-setup) setup="" ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
: "${tpu:?--tpu=NAME is required}"
: "${zone:?--zone=ZONE is required}"
job="${1:?usage: launch/tpu_pod.sh --tpu=NAME --zone=ZONE JOB [args]}"
shift
gcloud=(gcloud compute tpus tpu-vm)
where=(--zone="$zone" --worker=all)
[[ -n "$project" ]] && where+=(--project="$project")
remote_dir='~/stseg-jax'
setup_cmd="cd $remote_dir && python3 -m venv .venv && .venv/bin/pip install -q -r requirements.txt 'jax[tpu]==0.10.2' && touch .venv/.stseg-installed"
job_args=$(printf ' %q' "$@")
run_cmd="cd $remote_dir && STSEG_DISTRIBUTED=auto launch/local.sh $job$job_args"
commands=()
if [[ -n "$setup" ]]; then
  commands+=("$(printf '%q ' "${gcloud[@]}" scp --recurse "$PWD" "$tpu:$remote_dir" "${where[@]}")")
  commands+=("$(printf '%q ' "${gcloud[@]}" ssh "$tpu" "${where[@]}" --command="$setup_cmd")")
fi
commands+=("$(printf '%q ' "${gcloud[@]}" ssh "$tpu" "${where[@]}" --command="$run_cmd")")
for c in "${commands[@]}"; do
  if [[ -n "$dry_run" ]]; then echo "$c"; else eval "$c"; fi
done
