#!/usr/bin/env bash
# Issue 34, step 1: the classifier-init controlled pair. degradation-cpu-residual (resnet-20 and
# resnet-56 at half width, 4,000 iterations) with the classifier at PyTorch's nn.Linear init and at
# He's (resnet-lab's default), the same code for both, so that each pair differs in the classifier's
# init alone. One stage per arm: a sweep of its 6 runs (2 nets x 3 seeds), which --jobs auto packs 2
# at a time (~96 min per arm one at a time on the 2-core AMD EPYC); every finished run is kept
# (KEEP_TO) while it runs, so that what a session finished outlives its machine.
# Resumable: run the same command again (finished runs are skipped).
#   KEEP_TO=/work/main/docs/measurements/fc-init PYTHON=.venv/bin/python bash benchmarks/fc_init_queue.sh OUT_DIR DATA.tar.gz
OUT=${1:?usage: fc_init_queue.sh OUT_DIR DATA}
DATA=${2:?usage: fc_init_queue.sh OUT_DIR DATA}
source "$(dirname "$0")/queue_lib.sh"
mkdir -p "$OUT"
for fc in default as_init; do
  stage "$OUT/queue.log" "fc-$fc" "$OUT/fc-$fc" "$py" -m resnet_lab.cli sweep \
    --preset degradation-cpu-residual --dataset imagefolder --data-dir "$DATA" \
    --model.fc_init "$fc" --seeds 0,1,2 --out "$OUT/fc-$fc"
done
