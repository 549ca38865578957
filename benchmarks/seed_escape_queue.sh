#!/usr/bin/env bash
# The measurement queue of issue 28 (docs/results.md, "Which of the seed's unstated settings decide its
# failure"): the preset seed-escape's cells, one grid after another, in the order of what each
# answers first. Every stage is a resumable `resnet-lab grid`, so running this script again after an
# interruption (or in the next session) continues where it stopped and skips finished runs.
#
# Run it from a git worktree whose code is frozen (edits in the main checkout must not reach a
# running measurement), with a Python that has resnet-lab's dependencies:
#   git worktree add /work/wt-escape <commit>
#   cd /work/wt-escape && KEEP_TO=/work/main/docs/measurements/seed-escape PYTHON=/work/main/.venv/bin/python \
#       nohup bash benchmarks/seed_escape_queue.sh \
#       /work/runs_measure/seed-escape ../shared/datasets/cifar10-jpeg.tar.gz >/dev/null 2>&1 &
# Progress: <root>/queue.log (one line per stage start/end) and <root>/<stage>.log (the grid's output).
# Stages can be named after the data archive, e.g. `... OUT DATA controls-rest recipe-seed2`; a report of
# everything so far: `resnet-lab report docs/seed-escape OUT/<stage> ... --out OUT/report`.
usage="usage: seed_escape_queue.sh OUT_ROOT DATA_ARCHIVE [STAGE ...] (default: every stage, in order)"
root=${1:?$usage}
data=${2:?$usage}
shift 2
wanted=" ${*:-recipe controls recipe-seed2 plain-sgd-seeds seed-plain-sgd} "  # controls-rest: by name only
source "$(dirname "$0")/queue_lib.sh"
mkdir -p "$root"

axis() { "$py" -c "import sys; from resnet_lab.config import escape_axis; print(escape_axis(*sys.argv[1:]))" "$@"; }

escape() {  # escape NAME SEEDS CELL...: one grid of seed-escape's cells
  local name=$1 seeds=$2
  shift 2
  [[ $wanted == *" $name "* ]] || return 0
  stage "$root/queue.log" "$name" "$root/$name" "$py" -m resnet_lab.cli grid --preset seed-escape \
    --dataset imagefolder --data-dir "$data" --axis "$(axis "$@")" --seeds "$seeds" --out "$root/$name"
}

# 1. Today's recipe at seeds 0 and 1 on this machine: the reference every control is paired with
#    (the earlier full-width run changed machines after its first epoch), and whether its escape in
#    epoch 4 was luck.
escape recipe 0,1 recipe
# 2. One setting changed per run, seed 0, most informative first.
escape controls 0 plain-sgd width-0.25 width-0.5 plain-sgd-lr0.1 unit-inputs no-augment resnet-plain fp32
# 2b. The controls not yet in docs/seed-escape/grid.json (run this instead of `controls` when that
#     stage's directory is gone; the finished ones are committed there).
escape controls-rest 0 resnet-plain fp32
# 3. The recipe's third seed.
escape recipe-seed2 2 recipe
# 4. Plain SGD (the one change that kept the DeepCNN at ln 10 for the whole 6-epoch budget) at seeds 1, 2.
escape plain-sgd-seeds 1,2 plain-sgd
# 5. Plain SGD as the seed's recipe: all four nets, full width, the full 20 epochs (about 5 h here).
if [[ $wanted == *" seed-plain-sgd "* ]]; then
  compare_stage "$root/queue.log" seed-plain-sgd "$root/seed-plain-sgd" --preset seed-plain-sgd \
    --dataset imagefolder --data-dir "$data" --no-tensorboard
fi
echo "$(date -u +%FT%TZ) queue done" >>"$root/queue.log"
