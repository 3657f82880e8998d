#!/usr/bin/env bash
# make bench: speed, size and memory of `slim build` on the fixtures, side by side with the floor.
# Idempotent: the bench-only fixture slim-bench/big:latest is built once and cached by tag; every
# container this script makes is named slim-bench-<run>-N, labelled slim-bench.run=<run>, and
# removed on every exit path. Output: a table on stdout, BENCHMARKS.md and bench/results.json.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
export SLIM_BENCH_RUN="${SLIM_BENCH_RUN:-$$-$(date +%s)}"
export SLIM="${SLIM:-$root/target/release/slim}"
export SLIM_SENSOR="${SLIM_SENSOR:-$root/target/x86_64-unknown-linux-gnu/release/slim-sensor}"
log() { printf 'bench: %s\n' "$*" >&2; }

work="$(mktemp -d "${TMPDIR:-/tmp}/slim-bench.XXXXXX")"
export SLIM_BENCH_WORK="$work"
cleanup() {
  local ids
  ids=$(docker ps -aq --filter "label=slim-bench.run=$SLIM_BENCH_RUN" 2>/dev/null || true)
  [ -z "$ids" ] || docker rm -f $ids >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ -x "$SLIM" ] || { log "$SLIM missing: run make build"; exit 2; }
[ -x "$SLIM_SENSOR" ] || { log "$SLIM_SENSOR missing: run make build"; exit 2; }

# Tools: GNU time (peak RSS) and wrk (load client), from Debian when missing.
need=()
[ -x /usr/bin/time ] && /usr/bin/time -v true >/dev/null 2>&1 || need+=(time)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null && apt-get install -y -qq "${need[@]}" >/dev/null; }
fi

for img in slim-fixture/python-web:latest slim-fixture/nginx-site:latest slim-fixture/lookups:latest; do
  docker image inspect "$img" >/dev/null 2>&1 || { log "$img missing: run make fixtures"; exit 2; }
done

# The ~1 GB fixture for the peak-RSS measurement.
if docker image inspect slim-bench/big:latest >/dev/null 2>&1; then
  log "slim-bench/big:latest exists"
else
  log "building slim-bench/big:latest (~900 MB of random files)"
  DOCKER_BUILDKIT=0 docker build -q --label slim-bench.fixture=big -t slim-bench/big:latest "$here/big" >/dev/null
fi

python3 "$here/bench.py" --out-md "$root/BENCHMARKS.md" --out-json "$here/results.json"
