#!/usr/bin/env bash
# Issue 33, step 3: the input of the predicted outcome's calibration. trainability-quick (88 cells:
# depths 8/20/32/56 x 11 skip/norm/init settings x SGD/Adam, width 0.5, 240 steps) with seeds 0, 1
# and 2: 264 runs, about 27 min per seed as measured on a quiet 2-core machine (docs/trainability.md),
# each run's diagnosis.json recording the statistics the rules read. Then the calibration on the fit
# and held-out parts (benchmarks/calibrate_prediction.py). Run it from a worktree whose code is
# frozen; resumable (run it again: finished runs are skipped).
#   PYTHON=/work/main/.venv/bin/python bash benchmarks/calibration_queue.sh OUT_DIR DATA.tar.gz
set -u
OUT=${1:?usage: calibration_queue.sh OUT_DIR DATA}
DATA=${2:?usage: calibration_queue.sh OUT_DIR DATA}
PY=${PYTHON:-python}
here=$(cd "$(dirname "$0")/.." && pwd)
export PYTHONPATH="$here/src"  # this worktree's code, whatever the Python's own install points at
mkdir -p "$OUT"
echo "$(date -u +%FT%TZ) start trainability-quick seeds 0,1,2 at $(git -C "$here" rev-parse --short HEAD)" >> "$OUT/queue.log"
"$PY" -m resnet_lab.cli grid --preset trainability-quick --seeds 0,1,2 --dataset imagefolder \
  --data-dir "$DATA" --out "$OUT/map" >> "$OUT/map.log" 2>&1
rc=$?  # before the echo: its $(date) would reset $?
echo "$(date -u +%FT%TZ) end trainability-quick rc=$rc" >> "$OUT/queue.log"
"$PY" "$here/benchmarks/calibrate_prediction.py" "$OUT/map" > "$OUT/prediction-calibration.json" 2>> "$OUT/map.log"
rc=$?  # before the echo: its $(date) would reset $?
echo "$(date -u +%FT%TZ) calibration rc=$rc -> $OUT/prediction-calibration.json" >> "$OUT/queue.log"
