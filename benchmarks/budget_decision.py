"""Issue 34, step 2: does this budget decide He et al.'s second half? Reads residual sweeps
(their sweep.json: resnet-20 and resnet-56 over the same seeds; one sweep per seed where the queue
ran them in stages) and judges resnet-56 - resnet-20 in
clean training error (He et al.'s Figure 6 quantity), paired over seeds, against the margin fixed
before these runs (reporting/conclusions.NO_WORSE_MARGIN, 2 points):

- "no worse, shown": the 95 % interval's upper end is below +margin;
- "worse, shown": its lower end is above 0;
- "not decided": neither.

Plain sweeps among them (plain-20 and plain-56 at the same budget and seeds) add the first half
(plain-56 - plain-20, paired) and the depth x skip interaction (the per-seed difference of the
two families' depth gaps, paired), reported beside the verdict, which they do not change.

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
from resnet_lab.reporting.conclusions import NO_WORSE_MARGIN, interaction_verdict


def clean_errors(sweep_dirs: list[Path]) -> dict[tuple[str, int, int], float]:
    """Clean training error % by (family, depth, seed) over the sweeps; a stage not run yet (no
    sweep.json) gives nothing; a net and seed in two sweeps is refused (exit 2)."""
    err: dict[tuple[str, int, int], float] = {}
    for d in sweep_dirs:
        if not (d / "sweep.json").is_file():
            continue
        for r in json.loads((d / "sweep.json").read_text())["runs"]:
            if r.get("final_train_clean_acc") is None:
                continue
            key = (r["family"], r["depth"], r["seed"])
            if key in err:
                print(
                    f"{r['family']}-{r['depth']} seed {r['seed']} is in two of these sweeps; "
                    "pass each once",
                    file=sys.stderr,
                )
                sys.exit(2)
            err[key] = 100 - r["final_train_clean_acc"]
    return err


def _gap(err: dict, family: str, seeds: list[int]) -> list[float]:
    return [err[(family, 56, s)] - err[(family, 20, s)] for s in seeds]


def decide(sweep_dirs: list[Path]) -> dict:
    err = clean_errors(sweep_dirs)

    def paired(family: str) -> list[int]:
        return sorted(s for f, d, s in err if (f, d) == (family, 20) and (family, 56, s) in err)

    seeds = paired("resnet")
    if not seeds:
        return {
            "sweeps": [str(d) for d in sweep_dirs],
            "seeds": [],
            "verdict": "not decided",
            "text": "no seed has both resnet-20 and resnet-56 finished with a clean training error",
        }
    gap = paired_difference(
        [err[("resnet", 20, s)] for s in seeds], [err[("resnet", 56, s)] for s in seeds]
    )
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
    result = {
        "sweeps": [str(d) for d in sweep_dirs],
        "seeds": seeds,
        "gap_per_seed": dict(zip(seeds, (round(g, 2) for g in _gap(err, "resnet", seeds)))),
        "gap": dataclasses.asdict(gap),
        "text": gap.text(),
        "margin": NO_WORSE_MARGIN,
        "verdict": verdict,
    }
    # The plain pair at the same budget (the queue runs it at the final one): the first half must
    # still hold there, and the depth x skip interaction is the per-seed difference of the two
    # families' depth gaps, over the seeds all four nets finished. Neither changes the verdict.
    both = [s for s in paired("plain") if s in seeds]
    if both:
        plain = paired_difference(
            [err[("plain", 20, s)] for s in both], [err[("plain", 56, s)] for s in both]
        )
        inter = paired_difference(_gap(err, "resnet", both), _gap(err, "plain", both))
        result["plain"] = {
            "seeds": both,
            "gap_per_seed": dict(zip(both, (round(g, 2) for g in _gap(err, "plain", both)))),
            "gap": dataclasses.asdict(plain),
            "text": plain.text(),
            "degradation": "shown" if plain.shown and plain.estimate > 0 else "not shown",
        }
        result["interaction"] = {
            "what": "(plain-56 - plain-20) - (resnet-56 - resnet-20), per seed",
            "gap": dataclasses.asdict(inter),
            "text": inter.text(),
            "verdict": interaction_verdict(inter),
        }
    return result


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: budget_decision.py SWEEP_DIR [SWEEP_DIR ...]")
    result = decide([Path(a) for a in sys.argv[1:]])
    print(json.dumps(result, indent=1))
    sys.exit(0 if result["verdict"] != "not decided" else 1)
