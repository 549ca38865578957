"""Stored probes judged again by today's rules, so that a report rebuilt from old runs never shows
a verdict (or a prediction) of a rule that no longer exists (issue 32).

A run's diagnosis.json keeps the raw statistics of its probes (per layer, the loss); the verdict
and the predicted outcome are functions of those (verdict.py, predict.py) and of the optimiser in
the run's config.yaml. A probe recorded before a statistic existed that a rule reads is judged
without that rule's input: the verdict's rules read only what every probe has; the prediction
needs the input correlation, the normalised flag and the weights' rms (``NEEDED``) and is left
out (None) for probes without them, rather than judged on half its evidence.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..models.paths import is_shortcut_label
from .predict import FirstSteps, Probe, predict
from .verdict import gradient_verdict

NEEDED = ("input_corr", "normalised", "weight_rms")  # what predict.py reads beyond older probes


def rejudge(diagnosis: dict[str, Any], optim: dict[str, Any]) -> dict[str, Any]:
    """``diagnosis`` with its verdicts (and, where its init probe allows, its prediction) computed
    again by today's rules; the statistics are kept as they were. A diagnosis these rules cannot
    read (a format older than the per-layer probe) is returned as it was stored."""
    return rejudged({}, diagnosis, optim)[1]


def rejudged(
    row: dict[str, Any], diagnosis: dict[str, Any] | None, optim: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A study row (results.json / grid.json) and its run's diagnosis, both by today's rules from
    one judgement of the stored probes: the row's ``verdict_init``, ``verdict_final`` and
    ``predicted_init`` are the judged diagnosis's. Both as they were where there is no diagnosis or
    the rules cannot read its probe (a format older than theirs)."""
    if diagnosis is None:
        return row, None
    try:
        judged = judge(diagnosis, optim)
    except (KeyError, TypeError, ValueError):
        return row, diagnosis
    out = {**row, "predicted_init": (judged.get("prediction") or {}).get("outcome")}
    for phase in ("init", "final"):
        if phase in judged["verdict"]:
            out[f"verdict_{phase}"] = judged["verdict"][phase]["verdict"]
    return out, judged


def judge(diagnosis: dict[str, Any], optim: dict[str, Any]) -> dict[str, Any]:
    """``diagnosis`` judged by today's rules (see :func:`rejudge`); raises KeyError, TypeError or
    ValueError on a diagnosis or ``optim`` section the rules cannot read."""
    init = diagnosis["probe"].get("init")
    # The main path's weight layers (projections are named proj*): train.main_path_depth's count,
    # which decides whether the schedule warms the net up.
    depth = sum(not is_shortcut_label(l["name"]) for l in (init or {}).get("layers", []))
    steps = FirstSteps.of(optim, depth)
    sgd = {"lr": steps.lr, "momentum": steps.momentum} if steps.optimizer == "sgd" else {}
    n = diagnosis["num_classes"]
    out = dict(diagnosis)
    out["verdict"] = {
        phase: gradient_verdict(p["layers"], p["loss"], n, **sgd)
        for phase, p in diagnosis["probe"].items()
    }
    out.pop("prediction", None)
    if init and init["layers"] and all(k in init["layers"][0] for k in NEEDED):
        out["prediction"] = predict(Probe(init["layers"], init["loss"], n, steps))
    return out


def rejudged_row(
    row: dict[str, Any], run_dir: Path, optim: dict[str, Any] | None = None
) -> dict[str, Any]:
    """:func:`rejudged`'s row, from the diagnosis.json in ``run_dir`` (``optim``: the run's optim
    section, read from its config.yaml unless given); the row as it was where the directory holds
    no readable diagnosis.json and config (moved, or never written)."""
    import json

    import yaml

    try:
        diagnosis = json.loads((run_dir / "diagnosis.json").read_text())
        if optim is None:
            optim = yaml.safe_load((run_dir / "config.yaml").read_text())["optim"]
    except (OSError, ValueError, KeyError, TypeError, yaml.YAMLError):
        return row
    return rejudged(row, diagnosis, optim)[0]
