#!/usr/bin/env bash
# Issue 34, step 1: the classifier-init controlled pair. degradation-cpu-residual (resnet-20 and
# resnet-56 at half width, 4,000 iterations) with the classifier at PyTorch's nn.Linear init and at
# He's (resnet-lab's default), the same code for both, so that each pair differs in the classifier's
# init alone. One stage per arm and seed (~32 min each on the 2-core AMD EPYC: ~96 min per arm of
# 3 seeds), so that whatever a session finishes is kept (KEEP_TO) before its machine goes away.
# Resumable: run the same command again (finished runs are skipped).
#   KEEP_TO=/work/main/docs/measurements/fc-init PYTHON=.venv/bin/python bash benchmarks/fc_init_queue.sh OUT_DIR DATA.tar.gz
OUT=${1:?usage: fc_init_queue.sh OUT_DIR DATA}
DATA=${2:?usage: fc_init_queue.sh OUT_DIR DATA}
source "$(dirname "$0")/queue_lib.sh"
mkdir -p "$OUT"
for seed in 0 1 2; do
  for fc in default as_init; do
    stage "$OUT/queue.log" "fc-$fc-seed$seed" "$OUT/fc-$fc-seed$seed" "$py" -m resnet_lab.cli sweep \
      --preset degradation-cpu-residual --dataset imagefolder --data-dir "$DATA" \
      --model.fc_init "$fc" --seeds "$seed" --out "$OUT/fc-$fc-seed$seed"
  done
done
