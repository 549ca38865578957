#!/usr/bin/env bash
# Issue 34, step 3: He et al.'s CIFAR-10 degradation experiment at paper scale (the `paper` preset:
# full width, 45k/5k split, batch 128, lr 0.1 with 0.01 warm-up for resnet-110, /10 at 32k and 48k,
# 64k iterations; depths 20, 32, 44, 56, 110; plain and residual), 5 seeds, ready for GPUs. Not run
# here (no GPU has been lent to this project's sessions). From the repository root:
#   bash benchmarks/paper_gpu.sh                  # one GPU: the 50 runs one after another
#   LAUNCH=slurm PARTITION=gpu bash benchmarks/paper_gpu.sh   # a Slurm array, one GPU per run
#   LAUNCH=local JOBS=4 bash benchmarks/paper_gpu.sh          # one machine, 4 GPUs, one run per GPU
# Resumable (run it again: finished runs are skipped). The sweep writes sweep.json and sweep.html/.md:
# the Figure 6 analogue (training and test error against iterations, plain vs residual per depth)
# and the table against the paper's and nabla0001's test errors, with the paired statistics of the
# degradation sentences (reporting/conclusions.py).
set -euo pipefail
DATA=${DATA:-../shared/datasets/cifar10-jpeg.tar.gz}
OUT=${OUT:-runs/paper}
LAUNCH=${LAUNCH:-inline}
args=(sweep --preset paper --seeds 0,1,2,3,4 --dataset imagefolder --data-dir "$DATA" --out "$OUT")
rc=0  # a sweep with failed runs exits 1: the report of the finished ones is still written
case "$LAUNCH" in
  inline) resnet-lab "${args[@]}" || rc=$? ;;
  local) resnet-lab "${args[@]}" --jobs "${JOBS:?JOBS=N: runs at once, one GPU each}" || rc=$? ;;
  slurm) resnet-lab "${args[@]}" --launcher submitit --slurm-partition "${PARTITION:?PARTITION=name}" \
           --gpus-per-job 1 --cpus-per-job "${CPUS:-8}" --timeout-min "${TIMEOUT_MIN:-600}" --max-parallel 50 || rc=$? ;;
  *) echo "LAUNCH must be inline, local or slurm" >&2; exit 2 ;;
esac
resnet-lab report "$OUT"
exit "$rc"
