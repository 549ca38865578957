#!/usr/bin/env bash
# Issue 33, step 3: the input of the predicted outcome's calibration. trainability-quick (88 cells:
# depths 8/20/32/56 x 11 skip/norm/init settings x SGD/Adam, width 0.5, 240 steps), one stage per
# seed (0, 1, 2: about 27 min each as measured on a quiet 2-core machine, docs/trainability.md, so
# that a stage fits one session of a machine that is not kept), each run's diagnosis.json recording
# the statistics the rules read. --jobs auto: these small
# half-width nets train faster several at once (the outcomes, not bit-exact numbers, are what the
# calibration reads; every run records its thread count). Then the calibration on the fit and held-out parts
# (benchmarks/calibrate_prediction.py, over the stages together). Run it from a worktree whose code
# is frozen; resumable (run it again: finished runs are skipped).
#   KEEP_TO=/work/main/docs/measurements/calibration PYTHON=/work/main/.venv/bin/python \
#     bash benchmarks/calibration_queue.sh OUT_DIR DATA.tar.gz
OUT=${1:?usage: calibration_queue.sh OUT_DIR DATA}
DATA=${2:?usage: calibration_queue.sh OUT_DIR DATA}
source "$(dirname "$0")/queue_lib.sh"
mkdir -p "$OUT"
failed=0
for seed in 0 1 2; do
  stage "$OUT/queue.log" "map-seed$seed" "$OUT/map-seed$seed" "$py" -m resnet_lab.cli grid \
    --preset trainability-quick --seeds "$seed" --jobs auto --dataset imagefolder --data-dir "$DATA" \
    --out "$OUT/map-seed$seed" || failed=1
done
if [ "$failed" -ne 0 ]; then  # the calibration needs every seed's map
  echo "$(date -u +%FT%TZ) a map stage failed: no calibration (see map-seed*.log)" >>"$OUT/queue.log"
  exit 1
fi
"$py" "$here/benchmarks/calibrate_prediction.py" "$OUT"/map-seed{0,1,2} >"$OUT/prediction-calibration.json" 2>>"$OUT/queue.log"
rc=$?  # before the echo: its $(date) would reset $?
echo "$(date -u +%FT%TZ) calibration rc=$rc -> $OUT/prediction-calibration.json" >>"$OUT/queue.log"
[ "$rc" -eq 0 ] && [ -n "${KEEP_TO:-}" ] && cp "$OUT/prediction-calibration.json" "$KEEP_TO/"
