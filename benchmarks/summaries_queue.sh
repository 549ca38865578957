#!/usr/bin/env bash
# Issue 32, item 4: the studies whose numbers the README and docs quote but whose run directories
# were lost with the machines they ran on, run again so that a kept summary backs every number
# (tests/test_docs_numbers.py compares the pages with the kept files), and so that issue 33's
# calibration gets their (prediction at init, outcome) pairs: seed-controls (the headline table:
# 27 runs, ~90 min on a 2-core CPU; measured on the AMX Xeon with --jobs auto: ~60 min of
# running) and degradation-cpu (12 runs, ~90 min), each its preset's own command; then the quick
# compares with 3 seeds that docs/results.md quotes, SGD and Adam (12 runs each, ~50-65 min each
# one at a time). One stage per study; kept (KEEP_TO) while it runs; resumable.
#   KEEP_TO=/work/main/docs/measurements/summaries PYTHON=/work/main/.venv/bin/python \
#     bash benchmarks/summaries_queue.sh OUT_DIR DATA.tar.gz
OUT=${1:?usage: summaries_queue.sh OUT_DIR DATA}
DATA=${2:?usage: summaries_queue.sh OUT_DIR DATA}
source "$(dirname "$0")/queue_lib.sh"
mkdir -p "$OUT"
stage "$OUT/queue.log" seed-controls "$OUT/seed-controls" "$py" -m resnet_lab.cli grid \
  --preset seed-controls --dataset imagefolder --data-dir "$DATA" --out "$OUT/seed-controls"
stage "$OUT/queue.log" degradation-cpu "$OUT/degradation-cpu" "$py" -m resnet_lab.cli sweep \
  --preset degradation-cpu --dataset imagefolder --data-dir "$DATA" --out "$OUT/degradation-cpu"
compare_stage "$OUT/queue.log" quick-sgd "$OUT/quick-sgd" --preset quick --seeds 0,1,2 \
  --dataset imagefolder --data-dir "$DATA"
compare_stage "$OUT/queue.log" quick-adam "$OUT/quick-adam" --preset quick --seeds 0,1,2 \
  --optimizer adam --lr 1e-3 --dataset imagefolder --data-dir "$DATA"
