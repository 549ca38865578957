"""Issue 34, step 1: does the classifier's init change resnet-56 - resnet-20? Reads the stages of
benchmarks/fc_init_queue.sh (``fc-default`` and ``fc-as_init`` under OUT_DIR: one
degradation-cpu-residual sweep per classifier init over seeds 0, 1, 2, the same code, so that the
two runs of a net and seed differ in the classifier's init alone) and reports, in clean training
error at the end of the budget (He et al.'s Figure 6 quantity):

- per arm, resnet-56 - resnet-20 paired over its seeds, judged as budget_decision.py judges it;
- the effect of the classifier init on that gap: per seed (gap with PyTorch's init) - (gap with
  He's), paired over the seeds both arms finished (resnet_lab.inference: "shown" only when its 95 %
  interval excludes 0).

Prints one JSON object; ``--markdown`` prints the table docs/degradation.md shows instead.

    python benchmarks/fc_init_pair.py OUT_DIR [--markdown]
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from budget_decision import clean_errors, decide

from resnet_lab.inference import paired_difference

ARMS = ("default", "as_init")  # PyTorch's nn.Linear init, He's (the scheme of the convolutions)
LABEL = {"default": "PyTorch's (U(±1/√fan_in))", "as_init": "He's (N(0, 2/fan_in)), the default"}


def pair(out: Path, seeds: tuple[int, ...] = (0, 1, 2)) -> dict:
    arms = {fc: [out / f"fc-{fc}"] for fc in ARMS}
    result: dict = {"out": str(out), "arms": {fc: decide(dirs) for fc, dirs in arms.items()}}
    err = {fc: clean_errors(dirs) for fc, dirs in arms.items()}
    both = [s for s in seeds if all(("resnet", d, s) in err[fc] for fc in ARMS for d in (20, 56))]

    def gap(fc: str, s: int) -> float:
        return err[fc][("resnet", 56, s)] - err[fc][("resnet", 20, s)]

    if both:
        effect = paired_difference(
            [gap("as_init", s) for s in both], [gap("default", s) for s in both]
        )
        result["effect"] = {
            "what": "(resnet-56 - resnet-20 with PyTorch's classifier init) - (the same with He's), per seed",
            "seeds": both,
            "per_seed": {s: round(gap("default", s) - gap("as_init", s), 2) for s in both},
            "gap": dataclasses.asdict(effect),
            "text": effect.text(),
            "verdict": (
                "the classifier init changes the gap"
                if effect.shown
                else "a change of the gap by the classifier init is not shown"
            ),
        }
    return result


def markdown(result: dict) -> str:
    """The table of docs/degradation.md: per arm the per-seed gaps, their paired interval, verdict."""
    lines = [
        "| classifier init | resnet-56 − resnet-20 per seed (points) | paired over seeds | verdict |",
        "|---|---|---|---|",
    ]
    for fc in ARMS:
        arm = result["arms"][fc]
        per_seed = " / ".join(f"{g:+.2f}" for g in arm.get("gap_per_seed", {}).values()) or "–"
        lines.append(f"| {LABEL[fc]} | {per_seed} | {arm['text']} | {arm['verdict']} |")
    if "effect" in result:
        e = result["effect"]
        per_seed = " / ".join(f"{g:+.2f}" for g in e["per_seed"].values())
        lines.append(f"| PyTorch's − He's | {per_seed} | {e['text']} | {e['verdict']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--markdown"]
    if len(args) != 1:
        sys.exit("usage: fc_init_pair.py OUT_DIR [--markdown]")
    res = pair(Path(args[0]))
    print(markdown(res) if "--markdown" in sys.argv else json.dumps(res, indent=1))
