#!/usr/bin/env bash
# Every measurement still open, one at a time (each uses both cores), in the order of the issues
# that need it; each stage kept into the main checkout's docs/measurements/<queue>/<stage> as it runs
# (queue_lib.sh, keep.sh) and restored from there on a new machine, so the same command continues
# the queue wherever the last session stopped. Start it from a worktree whose code is frozen:
#   git worktree add /work/wt-queue HEAD
#   cd /work/wt-queue && PYTHON=/work/main/.venv/bin/python nohup setsid bash benchmarks/pending_queue.sh \
#     /work/main /work/runs_measure /work/shared/datasets/cifar10-jpeg.tar.gz >/work/runs_measure/pending.out 2>&1 &
# Sizes (2-core CPU, measured): issue 28's plain SGD at seeds 1, 2 (2 x 6 epochs of the full-width
# DeepCNN, bf16: ~4 min per epoch on an AMD EPYC, ~2 min with AMX) and its 20-epoch compare of four
# nets (~5 h AMD, ~2.3 h AMX); issue 33's map, 3 seeds (~27 min each, fp32); issue 31's study
# benchmark (~70 min); issue 32's seed-controls and degradation-cpu again, for kept summaries
# (~90 min each one at a time; seed-controls took ~64 min of running 2 at a time on the AMX Xeon),
# and the quick SGD / Adam compares with 3 seeds (~1 h each); issue 34's classifier-init pair (2
# stages of 6 runs, ~96 min each one at a time, fp32) and budget series (seeds 3, 4 at 4k ~1 h, all 5
# seeds at 8k ~4.2 h, at 16k ~8.5 h on the AMX Xeon, then the plain pair at the final budget).
usage="usage: pending_queue.sh MAIN_CHECKOUT OUT_ROOT DATA_ARCHIVE"
main=${1:?$usage}
out=${2:?$usage}
data=${3:?$usage}
here=$(cd "$(dirname "$0")/.." && pwd)
keep=$main/docs/measurements
KEEP_TO=$keep/seed-escape bash "$here/benchmarks/seed_escape_queue.sh" "$out/seed-escape" "$data" seed-plain-sgd plain-sgd-seeds
KEEP_TO=$keep/calibration bash "$here/benchmarks/calibration_queue.sh" "$out/calibration" "$data"
# Issue 31: one run at a time against --jobs auto on degradation-cpu's 4 runs of seed 0 at 1,000 of
# their 2,000 steps, twice (alternating which goes first: a spread, and each run long enough that
# its steps, not the start-up that does not shrink with jobs, dominate, unlike the 100-step version in
# docs/performance.md), ~70 min on the AMX Xeon; not resumable, so skipped once its bench.json is kept.
source "$here/benchmarks/queue_lib.sh"
mkdir -p "$out/jobs-bench"
printf "sweep: {seeds: [0]}\ntrain: {max_steps: 1000}\n" >"$out/jobs-bench/seed0-1000steps.yaml"
name=degradation-cpu-seed0-1000steps
bench=$out/jobs-bench/$name
if [ ! -f "$keep/jobs-bench/$name/bench.json" ]; then  # an interrupted one starts again whole
  rm -rf "$bench" "$keep/jobs-bench/$name"
fi
[ -f "$keep/jobs-bench/$name/bench.json" ] || KEEP_TO=$keep/jobs-bench stage \
  "$out/jobs-bench/queue.log" "$name" "$bench" "$py" -m resnet_lab.cli bench \
  --preset degradation-cpu --config "$out/jobs-bench/seed0-1000steps.yaml" --mode study --repeats 2 \
  --dataset imagefolder --data-dir "$data" --out "$bench"
KEEP_TO=$keep/summaries bash "$here/benchmarks/summaries_queue.sh" "$out/summaries" "$data"
KEEP_TO=$keep/fc-init bash "$here/benchmarks/fc_init_queue.sh" "$out/fc-init" "$data"
# The budget series starts from the pair's PyTorch arm (its 4,000-iteration seeds 0-2).
KEEP_TO=$keep/budget bash "$here/benchmarks/budget_queue.sh" "$out/budget" "$data" "$out/fc-init/fc-default"
