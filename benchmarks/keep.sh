#!/usr/bin/env bash
# Keep a study's results where they outlive the machine: copy, from a compare/grid/sweep directory,
# the study's own files and every *finished* run's small files (run.json with its results, config,
# per-epoch metrics, loss trace, diagnosis, diagnostics), never checkpoints or TensorBoard logs
# (kilobytes per run, not megabytes). Copying DEST back into an empty study directory and running
# the same command again continues the study: a run whose run.json says completed or diverged is
# skipped (experiment.finished_row), an unfinished one starts again.
#
# The measurement machines of this project are not kept between sessions, so a queue calls this
# after every stage and every few minutes while one runs (benchmarks/keep.sh SRC DEST EVERY_S PID:
# repeat until process PID ends, then once more):
#   bash benchmarks/keep.sh /work/runs_measure/seed-escape/seed-plain-sgd docs/runs/seed-plain-sgd
#   restore: mkdir -p SRC && cp -r DEST/. SRC/
set -uo pipefail
usage="usage: keep.sh STUDY_DIR DEST_DIR [EVERY_SECONDS PID]"
src=${1:?$usage}
dest=${2:?$usage}
every=${3:-}
pid=${4:-}
if [ -z "$pid" ] && [ ! -d "$src" ]; then  # while a stage runs, its directory may not exist yet
  echo "keep.sh: $src is not a directory; give a compare/grid/sweep --out" >&2
  exit 2
fi

STUDY_FILES="config.yaml .resnet-lab grid.json grid.md sweep.json sweep.md results.json results.md report.md bench.json"
RUN_FILES="config.yaml metrics.jsonl loss_trace.json diagnosis.json diagnostics.jsonl run.json"

put() {  # put FILE TARGET: replace TARGET only when FILE differs, by rename (never a cut-off copy)
  cmp -s "$1" "$2" && return 0
  cp -p "$1" "$2.tmp" && mv -f "$2.tmp" "$2"
}

once() {
  [ -d "$src" ] || return 0
  mkdir -p "$dest"
  for f in $STUDY_FILES; do
    [ -f "$src/$f" ] && put "$src/$f" "$dest/$f"
  done
  for run in "$src"/*/; do
    run=${run%/}
    grep -qE '"status": "(completed|diverged)"' "$run/run.json" 2>/dev/null || continue
    mkdir -p "$dest/${run##*/}"
    for f in $RUN_FILES; do  # run.json last: a kept run counts as finished only with its files
      [ -f "$run/$f" ] && put "$run/$f" "$dest/${run##*/}/$f"
    done
  done
  return 0
}

once
if [ -n "$every" ] && [ -n "$pid" ]; then
  while kill -0 "$pid" 2>/dev/null; do
    for ((i = 0; i < every; i++)); do  # the last pass as soon as the stage ends, not up to EVERY s later
      kill -0 "$pid" 2>/dev/null || break
      sleep 1
    done
    once
  done
fi
