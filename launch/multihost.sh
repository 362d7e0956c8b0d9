#!/usr/bin/env bash
# One process of a multi-host job on plain GPU hosts: run it once per host.
#
#   launch/multihost.sh --coordinator=HOST0:1234 --num_processes=N --process_id=I \
#       [--dry-run] JOB --config=... --workdir=SHARED_DIR [...]
#
# Process 0's host is the coordinator. The workdir must be on storage every host
# sees (orbax writes one checkpoint from all processes). Each host uses all its
# local GPUs; the mesh spans every device of every process.
set -euo pipefail
cd "$(dirname "$0")/.."
coordinator="" num_processes="" process_id="" dry_run=""
while [[ $# -gt 0 && "$1" == --* ]]; do
  case "$1" in
    --coordinator=*) coordinator="${1#*=}" ;;
    --num_processes=*) num_processes="${1#*=}" ;;
    --process_id=*) process_id="${1#*=}" ;;
    --dry-run) dry_run=1 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
: "${coordinator:?--coordinator=HOST:PORT is required}"
: "${num_processes:?--num_processes is required}"
: "${process_id:?--process_id is required}"
job="${1:?usage: launch/multihost.sh --coordinator=... --num_processes=N --process_id=I JOB [args]}"
shift
cmd=(launch/local.sh ${dry_run:+--dry-run} "$job" "$@" "--coordinator_address=$coordinator"
     "--num_processes=$num_processes" "--process_id=$process_id")
# With --dry-run, local.sh prints the python command it would run.
exec "${cmd[@]}"
