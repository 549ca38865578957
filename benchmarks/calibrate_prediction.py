"""Issue 33, step 3: how often the predicted outcome at initialisation (diagnostics/predict.py) comes
true, on a part of the runs that did not shape the rules.

For every run of the given grid directories: the prediction by the *current* rules, computed from
the run's probe at initialisation (diagnosis.json) where it recorded what the rules read (the input
correlation, which layers a normalisation follows, the weights' rms), and otherwise re-measured from
the run's initial checkpoint (``checkpoints/epoch0000.pt``) on the run's own data; against the
run's outcome (learned / failed / diverged by compare's rules, within the run's budget).

The split, fixed before any of its runs existed (issue 33, commit of this file): in the
trainability map, the cells with SGD at depths 8, 20 and 56 are the **fit** part (where a rule may
be changed after looking); depth 32, and every Adam cell, are **held out** (never looked at to
change a rule: the hit rate reported is theirs). Runs of other studies (no depth axis) are reported
as a third part, ``other``.

    python benchmarks/calibrate_prediction.py GRID_DIR [GRID_DIR ...] > prediction-calibration.json
    python benchmarks/calibrate_prediction.py --markdown prediction-calibration.json  # docs' tables

The markdown is what docs/diagnostics.md shows (tests/test_docs_numbers.py checks that it does).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from resnet_lab.diagnostics.rejudge import NEEDED, judge
from resnet_lab.reporting.grid_conclusions import confusion_text, prediction_table, settings_label

HELD_OUT_DEPTHS = {32}
FIT_DEPTHS = {8, 20, 56}


def part(settings: dict[str, Any]) -> str:
    depth, optimizer = settings.get("model.depth"), settings.get("optim.name")
    if depth is None:
        return "other"
    if depth in HELD_OUT_DEPTHS or optimizer == "adam":
        return "held-out"
    return "fit" if depth in FIT_DEPTHS else "other"


def init_diagnosis(run_dir: Path) -> tuple[dict[str, Any], str]:
    """(the run's diagnosis with a probe at initialisation that holds what the rules read, where it
    came from)."""
    d = json.loads((run_dir / "diagnosis.json").read_text())
    if all(k in d["probe"]["init"]["layers"][0] for k in NEEDED):
        return d, "diagnosis.json"
    from resnet_lab.diagnostics.targets import diagnose_checkpoint

    return diagnose_checkpoint(run_dir / "checkpoints" / "epoch0000.pt")[0], "re-measured"


def evidence(judged: dict[str, Any]) -> dict[str, Any]:
    """What the rules read at initialisation, from the diagnosis as ``judge`` returns it: the loss,
    the input correlation at the signal path's last layer (rule 3), the backward signal's fitted
    change over the path (rule 3, the verdict's fit) and the largest steady first step relative to
    its weight (rule 2)."""
    from resnet_lab.diagnostics.verdict import signal_path

    init = judged["probe"]["init"]
    path = signal_path(init["layers"])
    back = judged["verdict"]["init"]["backward"]
    return {
        "loss": init["loss"],
        "input_corr_last": path[-1].get("input_corr") if path else None,
        "back_change": back["change"] if back else None,
        "largest_step": (judged["prediction"].get("largest_steps") or [None])[0],
    }


def main(grids: list[str]) -> None:
    import yaml

    rows = []
    for grid in map(Path, grids):
        for r in json.loads((grid / "grid.json").read_text())["runs"]:
            run_dir = grid / r["run"]
            if r["outcome"] == "error" or not (run_dir / "diagnosis.json").is_file():
                continue
            diagnosis, source = init_diagnosis(run_dir)
            optim = yaml.safe_load((run_dir / "config.yaml").read_text())["optim"]
            judged = judge(diagnosis, optim)  # today's rules, as a rebuilt report judges
            p = judged["prediction"]
            rows.append(
                {
                    "grid": str(grid),
                    "run": r["run"],
                    "seed": r.get("seed"),
                    "settings": r.get("settings", {}),
                    "part": part(r.get("settings", {})),
                    "outcome": r["outcome"],
                    "predicted_init": p["outcome"],
                    "rule": p["rule"],
                    "reasons": p["reasons"],
                    "probe_source": source,
                    "evidence": evidence(judged),
                }
            )
    # The held-out runs of seeds 1 and 2 as well: the rules were written after an earlier session
    # had seen the one-seed (seed 0) map's outcomes, so only these are new to them in every sense.
    selections = {
        "fit": lambda r: r["part"] == "fit",
        "held-out": lambda r: r["part"] == "held-out",
        "held-out, seeds 1-2": lambda r: r["part"] == "held-out" and r["seed"] in (1, 2),
        "other": lambda r: r["part"] == "other",
    }
    parts = {}
    for name, chosen in selections.items():
        table = prediction_table([r for r in rows if chosen(r)])
        if table is not None:
            table = {
                k: {**dataclasses.asdict(v), "rate": v.rate} if dataclasses.is_dataclass(v) else v
                for k, v in table.items()
            }
            parts[name] = table
    json.dump(
        {
            "rules": "resnet_lab/diagnostics/predict.py (RULES)",
            "split": {
                "fit": "SGD at depths 8, 20, 56",
                "held-out": "depth 32, and every Adam cell",
                "held-out, seeds 1-2": "the held-out cells' runs of seeds 1 and 2",
            },
            "parts": parts,
            "runs": rows,
        },
        sys.stdout,
        indent=1,
    )


def _evidence_text(e: dict[str, Any]) -> str:
    def g(x: float | None, fmt: str) -> str:
        return "—" if x is None else format(x, fmt)

    step = e.get("largest_step")
    step_text = (
        "—"
        if not step
        else f"{step['step']:.2g}× ({step['name']}{', BN-followed' if step['normalised'] else ''})"
    )
    return (
        f"loss {g(e['loss'], '.2f')}; input corr. {g(e['input_corr_last'], '.4f')}; "
        f"backward ×{g(e['back_change'], '.2g')}; largest step {step_text}"
    )


def markdown(blob: dict[str, Any]) -> str:
    """The calibration as docs/diagnostics.md shows it: per part the runs, the confusion counts
    (predicted → observed), sensitivity, specificity and hit rate of "will not train" with their
    exact intervals; then every miss with what the rules read."""
    from resnet_lab.inference import Proportion

    def rate(d: dict[str, Any]) -> str:
        return Proportion(d["hits"], d["n"], d["low"], d["high"]).text()

    lines = [
        "| part | cells | runs | predicted → observed | sensitivity | specificity | hit rate |",
        "|---|---|---:|---|---|---|---|",
    ]
    for name, t in blob["parts"].items():
        lines.append(
            f"| {name} | {blob['split'].get(name, 'other studies')} | {t['runs']} "
            f"| {confusion_text(t['confusion'])} "
            f"| {rate(t['sensitivity'])} | {rate(t['specificity'])} | {rate(t['hit_rate'])} |"
        )
    # Every miss once: "held-out, seeds 1-2" is a part of "held-out", not a part of its own.
    misses = [
        r for name, t in blob["parts"].items() if name != "held-out, seeds 1-2" for r in t["misses"]
    ]
    lines += [
        "",
        "| miss | part | predicted | observed | rule | what the rules read at initialisation |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {settings_label({**r['settings'], 'seed': r.get('seed')})} | {r['part']} | {r['predicted_init']} | {r['outcome']} | {r['rule'] or '—'} "
        f"| {_evidence_text(r['evidence'])} |"
        for r in misses
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(
            "usage: calibrate_prediction.py GRID_DIR [GRID_DIR ...] | --markdown CALIBRATION.json"
        )
    if sys.argv[1] == "--markdown":
        print(markdown(json.loads(Path(sys.argv[2]).read_text())))
    else:
        main(sys.argv[1:])
