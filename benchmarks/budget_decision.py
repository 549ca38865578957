"""Issue 34, step 2: does this budget decide He et al.'s second half? Reads residual sweeps
(their sweep.json: resnet-20 and resnet-56 over the same seeds; one sweep per seed where the queue
ran them in stages) and judges resnet-56 - resnet-20 in
clean training error (He et al.'s Figure 6 quantity), paired over seeds, against the margin fixed
before these runs (reporting/conclusions.NO_WORSE_MARGIN, 2 points):

- "no worse, shown": the 95 % interval's upper end is below +margin;
- "worse, shown": its lower end is above 0;
- "not decided": neither.

Prints one JSON object; exit code 0 when decided (the budget series stops), 1 when not, 2 when
refused (a seed in two of the sweeps).

    python benchmarks/budget_decision.py SWEEP_DIR [SWEEP_DIR ...]
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from resnet_lab.inference import paired_difference
from resnet_lab.reporting.conclusions import NO_WORSE_MARGIN


def decide(sweep_dirs: list[Path]) -> dict:
    rows = [
        r
        for d in sweep_dirs
        if (d / "sweep.json").is_file()  # a stage not run yet: no pairs
        for r in json.loads((d / "sweep.json").read_text())["runs"]
    ]
    err: dict[tuple[int, int], float] = {}
    for r in rows:
        if r["family"] == "resnet" and r.get("final_train_clean_acc") is not None:
            if (r["depth"], r["seed"]) in err:
                print(
                    f"resnet-{r['depth']} seed {r['seed']} is in two of these sweeps; pass each once",
                    file=sys.stderr,
                )
                sys.exit(2)
            err[(r["depth"], r["seed"])] = 100 - r["final_train_clean_acc"]
    seeds = sorted({s for d, s in err if (20, s) in err and (56, s) in err})
    if not seeds:
        return {
            "sweeps": [str(d) for d in sweep_dirs],
            "seeds": [],
            "verdict": "not decided",
            "text": "no seed has both resnet-20 and resnet-56 finished with a clean training error",
        }
    gap = paired_difference([err[(20, s)] for s in seeds], [err[(56, s)] for s in seeds])
    no_worse = gap.high is not None and gap.high < NO_WORSE_MARGIN
    worse = gap.low is not None and gap.low > 0
    # Both can hold: a gap shown above 0 and shown below the margin is worse, but by less than it.
    verdict = {
        (True, False): "no worse, shown",
        (False, True): "worse, shown",
        (
            True,
            True,
        ): f"worse, shown, by less than the {NO_WORSE_MARGIN:g}-point margin (no worse, shown)",
        (False, False): "not decided",
    }[(no_worse, worse)]
    return {
        "sweeps": [str(d) for d in sweep_dirs],
        "seeds": seeds,
        "gap_per_seed": {s: round(err[(56, s)] - err[(20, s)], 2) for s in seeds},
        "gap": dataclasses.asdict(gap),
        "text": gap.text(),
        "margin": NO_WORSE_MARGIN,
        "verdict": verdict,
    }


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: budget_decision.py SWEEP_DIR [SWEEP_DIR ...]")
    result = decide([Path(a) for a in sys.argv[1:]])
    print(json.dumps(result, indent=1))
    sys.exit(0 if result["verdict"] != "not decided" else 1)
