#!/usr/bin/env bash
# GPU numbers for docs/results.md (issue 18), ready for a machine with CUDA GPUs; not yet run (no GPU has
# been lent to this project's sessions). From the repository root, with resnet-lab installed:
#   bash benchmarks/gpu.sh                       # DATA=path/to/cifar10 OUT=runs/gpu to change
# It runs, each timed: the seed experiment end to end at full width (goal: <= 3 min on one GPU),
# `bench --mode all` (throughput against the conventional DataLoader pipeline; goal: >= 5x), and,
# on a machine with 2 or more GPUs, the same compare data-parallel over 2 GPUs with torchrun.
# Everything it prints and writes goes to $OUT; the peak memory of each compare is in its
# results.json (provenance: peak_rss_mib, peak_cuda_mib).
set -euo pipefail
DATA=${DATA:-../shared/datasets/cifar10-jpeg.tar.gz}
OUT=${OUT:-runs/gpu-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA GPU here')"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpus.csv"
data=(--dataset imagefolder --data-dir "$DATA")

timed() {  # name, command...: wall seconds into $OUT/<name>.seconds, output into $OUT/<name>.log
  local name=$1; shift
  local start=$(date +%s.%N)
  "$@" 2>&1 | tee "$OUT/$name.log"
  echo "$(date +%s.%N) - $start" | bc | tee "$OUT/$name.seconds"
}

timed seed resnet-lab compare --preset seed "${data[@]}" --out "$OUT/seed"
timed bench resnet-lab bench --preset seed --mode all "${data[@]}" --out "$OUT/bench"
if [ "$(nvidia-smi -L | wc -l)" -ge 2 ]; then
  timed seed-ddp2 torchrun --standalone --nproc-per-node 2 "$(command -v resnet-lab)" \
    compare --preset seed "${data[@]}" --out "$OUT/seed-ddp2"
fi
echo "done: $OUT"
