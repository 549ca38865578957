#!/usr/bin/env bash
# Issue 34, step 2: the smallest budget that decides He et al.'s second half (resnet-56 no worse
# than resnet-20) at half width. degradation-cpu-residual's nets, data and schedule shape (lr /10 at
# 50 % and 75 % of the iterations), 5 paired seeds, the budget doubled from 8,000 iterations until
# budget_decision.py decides (exit 0) or about 8 h of CPU are spent (sized from the 4,000-iteration
# runs: ~7.75 min per 1,000 iterations per seed for the pair, so 8k x 5 seeds ~ 5.2 h and 16k ~ 10 h:
# 16k is the last budget started), then the plain pair at the final budget (the first half there,
# and the depth x skip interaction). One stage per budget: a sweep of the 10 runs (2 nets x 5 seeds),
# which --jobs auto packs 2 at a time (one stage per seed left a core idle once its resnet-20 was
# done, about 30 % of the stage); every finished run is kept (KEEP_TO) while it runs, so that what a
# session finished outlives its machine. The classifier keeps PyTorch's
# nn.Linear init (--model.fc_init default), as He et al.'s reference Torch code does: the series
# measures the paper's setting, whatever the classifier-init pair (fc_init_queue.sh) shows for
# resnet-lab's He default. Resumable; run it from a worktree whose code is frozen.
#   KEEP_TO=/work/main/docs/measurements/budget PYTHON=/work/main/.venv/bin/python bash benchmarks/budget_queue.sh OUT_DIR DATA.tar.gz
OUT=${1:?usage: budget_queue.sh OUT_DIR DATA}
DATA=${2:?usage: budget_queue.sh OUT_DIR DATA}
source "$(dirname "$0")/queue_lib.sh"
mkdir -p "$OUT"
budget() {  # budget FAMILY IT: one sweep of FAMILY's 20 and 56 over the 5 seeds at IT iterations
  local family=$1 it=$2 name
  name=$([ "$family" = resnet ] && echo "it$it" || echo "$family-it$it")
  stage "$OUT/queue.log" "$name" "$OUT/$name" "$py" -m resnet_lab.cli sweep \
    --preset degradation-cpu-residual --families "$family" --dataset imagefolder --data-dir "$DATA" \
    --model.fc_init default --seeds 0,1,2,3,4 --max-steps "$it" \
    --train.epochs "$(((it + 116) / 117 + 1))" --optim.milestones "$((it / 2)),$((it * 3 / 4))" \
    --out "$OUT/$name"  # 15,000 training images / batch 128 = 117 steps per epoch
}
for it in 8000 16000; do
  if ! budget resnet "$it"; then  # a decision on fewer seeds than planned is not the rule fixed in advance
    echo "$(date -u +%FT%TZ) the stage at $it failed: no decision (see it$it.log)" >>"$OUT/queue.log"
    exit 1
  fi
  "$py" "$here/benchmarks/budget_decision.py" "$OUT/it$it" >"$OUT/it$it-decision.json"
  decided=$?  # 0 decided, 1 not decided, 2 refused (e.g. a seed twice)
  echo "$(date -u +%FT%TZ) decision at $it: $(grep '"verdict"' "$OUT/it$it-decision.json")" >>"$OUT/queue.log"
  [ -n "${KEEP_TO:-}" ] && cp "$OUT/it$it-decision.json" "$KEEP_TO/"
  [ "$decided" -eq 1 ] || break
done
[ "$decided" -eq 2 ] && exit 1  # refused: no final budget to add the plain pair to
# The plain pair at the final budget (the decided one, or the last tried): the first half must still
# hold there, and the depth x skip interaction needs all four nets per seed. The same seeds, data and
# schedule; about as long again as the residual series at that budget. It adds to the final decision
# file, and does not change the verdict.
budget plain "$it" || exit 1
"$py" "$here/benchmarks/budget_decision.py" "$OUT/it$it" "$OUT/plain-it$it" >"$OUT/it$it-final.json"
echo "$(date -u +%FT%TZ) final at $it with the plain pair: $(grep -A1 '"interaction"' "$OUT/it$it-final.json" | tail -1)" >>"$OUT/queue.log"
[ -n "${KEEP_TO:-}" ] && cp "$OUT/it$it-final.json" "$KEEP_TO/"
