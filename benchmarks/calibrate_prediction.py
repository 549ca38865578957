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

    python benchmarks/calibrate_prediction.py GRID_DIR [GRID_DIR ...] > docs/results/prediction-calibration.json
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from resnet_lab.diagnostics.rejudge import NEEDED, judge
from resnet_lab.reporting.grid_conclusions import prediction_table

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
            p = judge(diagnosis, optim)["prediction"]  # today's rules, as a rebuilt report judges
            rows.append(
                {
                    "grid": str(grid),
                    "run": r["run"],
                    "settings": r.get("settings", {}),
                    "part": part(r.get("settings", {})),
                    "outcome": r["outcome"],
                    "predicted_init": p["outcome"],
                    "rule": p["rule"],
                    "reasons": p["reasons"],
                    "probe_source": source,
                    "loss_init": diagnosis["probe"]["init"]["loss"],
                }
            )
    parts = {}
    for name in ("fit", "held-out", "other"):
        table = prediction_table([r for r in rows if r["part"] == name])
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
            },
            "parts": parts,
            "runs": rows,
        },
        sys.stdout,
        indent=1,
    )


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: calibrate_prediction.py GRID_DIR [GRID_DIR ...]")
    main(sys.argv[1:])
