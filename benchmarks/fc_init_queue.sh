#!/usr/bin/env bash
# Issue 34, step 1: the classifier-init controlled pair. degradation-cpu-residual (resnet-20 and
# resnet-56 at half width, seeds 0-2, 4,000 iterations; ~96 min per arm on the 2-core AMD EPYC)
# run twice with the same code, once with the classifier at PyTorch's nn.Linear init and once at
# He's (resnet-lab's default), so that the pair differs in the classifier's init alone.
# Resumable: run the same command again (finished runs are skipped, an interrupted one continues).
#   PYTHON=.venv/bin/python bash benchmarks/fc_init_queue.sh OUT_DIR DATA.tar.gz
set -u
OUT=${1:?usage: fc_init_queue.sh OUT_DIR DATA}
DATA=${2:?usage: fc_init_queue.sh OUT_DIR DATA}
PY=${PYTHON:-python}
here=$(cd "$(dirname "$0")/.." && pwd)
export PYTHONPATH="$here/src"  # this checkout's code, whatever the Python's own install points at
mkdir -p "$OUT"
for fc in default as_init; do
  echo "$(date -u +%FT%TZ) start fc_init=$fc at $(git rev-parse --short HEAD)" >> "$OUT/queue.log"
  "$PY" -m resnet_lab.cli sweep --preset degradation-cpu-residual --dataset imagefolder \
    --data-dir "$DATA" --model.fc_init "$fc" --out "$OUT/fc-$fc" >> "$OUT/fc-$fc.log" 2>&1
  rc=$?  # before the echo: its $(date) would reset $?
  echo "$(date -u +%FT%TZ) end fc_init=$fc rc=$rc" >> "$OUT/queue.log"
done
