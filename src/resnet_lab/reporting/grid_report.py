"""The report of a grid directory: a phase-diagram heat map, one table row per cell, computed
conclusions (depth limits, single-setting rescues of the seed's setting, whether the gradient
verdict at initialisation predicted the outcome) and per-cell run lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..escape import ESCAPE_DELTA
from ..outcome import Outcome
from . import plots
from .grid_conclusions import (
    cell_escapes,
    grid_layout,
    grid_sentences,
    outcome_text,
    settings_label,
    summarise,
)
from .report import Page, png, read_study, settings_yaml, study_provenance, write_pages

REQUIRED = ("config", "axes", "runs", "summary")


def rejudged(rows: list[dict[str, Any]], grid_dir: Path) -> list[dict[str, Any]]:
    """The rows with their verdicts and predictions computed again by today's rules from the probes
    stored in their run directories (diagnostics/rejudge.py), where those directories are here."""
    from ..diagnostics.rejudge import rejudged_row

    return [rejudged_row(r, grid_dir / r["run"]) if "run" in r else r for r in rows]


def load_grid(grid_dir: str | Path) -> dict[str, Any]:
    grid_dir = Path(grid_dir)
    blob = read_study(grid_dir, "grid.json", "resnet-lab grid")
    missing = [k for k in REQUIRED if not isinstance(blob, dict) or k not in blob]
    if missing:
        raise UserError(
            f"{grid_dir}/grid.json lacks {', '.join(missing)}: it is incomplete or from another "
            "version; re-run the grid"
        ) from None
    return blob


def _ms(ms, digits: int = 2) -> str:
    if ms is None:
        return "-"
    mean, std = ms
    return f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if std is not None else "")


def _table(blob: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    header = [
        "cell",
        "settings",
        "seeds",
        "params",
        "outcome",
        "best val acc %",
        f"passed {blob.get('threshold_acc', '?')}% at step (mean)",
        "verdict at init",
        "predicted at init",
        f"left ln {blob.get('num_classes') or 10} at step",
        "test acc %",
    ]
    params = {}
    for r in blob["runs"]:
        if r.get("params") is not None:
            params.setdefault(r["cell"], r["params"])
    rows = []
    for s in blob["summary"]:
        n = len(s["seeds"])
        passed = s.get("passed", 0)
        step = s.get("threshold_step")
        passed_text = "never" if not passed else f"{passed}/{n} seeds, step {_ms(step, 0)}"
        rows.append(
            [
                s["cell"],
                settings_label(s["settings"]),
                ", ".join(map(str, s["seeds"])),
                f"{params[s['cell']]:,}" if s["cell"] in params else "-",
                outcome_text(s),
                _ms(s.get("best_val_acc")),
                passed_text,
                ", ".join(v for v in s.get("verdicts_init") or [] if v) or "-",
                ", ".join(s.get("predicted_init") or []) or "-",
                cell_escapes(s).text(),
                _ms(s.get("test_acc")),
            ]
        )
    return header, rows


def _pct(x) -> str:
    return "n/a" if x is None else f"{x:.2f}%"


def _run_line(r: dict[str, Any]) -> str:
    text = f"seed {r['seed']}: {r['outcome']}"
    if r["outcome"] == Outcome.ERROR:
        return text + f" — {r.get('error') or 'no message recorded'}"
    bits = [f"best val {_pct(r.get('best_val_acc'))}", f"test {_pct(r.get('test_acc'))}"]
    if r.get("threshold_step") is not None:
        bits.append(f"passed threshold at step {r['threshold_step']}")
    if r.get("diverged_at_step") is not None:
        bits.append(f"diverged at step {r['diverged_at_step']}")
    if r.get("verdict_init") or r.get("verdict_final"):
        bits.append(
            f"gradients at init: {r.get('verdict_init') or '-'}, after training: {r.get('verdict_final') or '-'}"
        )
    if r.get("predicted_init"):
        bits.append(f"predicted at init: {r['predicted_init']}")
    if r.get("left_ln") is not None:
        bits.append("loss left ln C" if r["left_ln"] else "loss never left ln C")
    if "escape_step" in r:
        bits.append(
            f"running loss below ln C - {ESCAPE_DELTA} from step {r['escape_step']:,} on"
            if r["escape_step"] is not None
            else f"running loss not below ln C - {ESCAPE_DELTA} at its last step {r['steps']:,}"
        )
    if r.get("seconds") is not None:
        bits.append(f"{r['seconds']:.0f} s")
    text += " (" + "; ".join(bits) + ")"
    if r.get("problem") and r["problem"] != "none":
        text += f" — {r['problem']}"
    return text


def _sections(blob: dict[str, Any]) -> list[tuple[str, list[str]]]:
    by_cell: dict[str, list[dict[str, Any]]] = {}
    for r in blob["runs"]:
        by_cell.setdefault(r["cell"], []).append(r)
    return [
        (
            f"{s['cell']} ({settings_label(s['settings'])})",
            ["; ".join(_run_line(r) for r in by_cell.get(s["cell"], [])) or "no runs recorded"],
        )
        for s in blob["summary"]
    ]


def _provenance(blob: dict[str, Any]) -> list[tuple[str, str]]:
    p, cfg = blob.get("provenance", {}), blob["config"]
    g = cfg.get("grid", {})
    return study_provenance(
        p,
        [
            ("grid", f"model {g.get('model')}; axes {'; '.join(map(str, g.get('axes', [])))}"),
            (
                "seeds / threshold",
                (
                    f"{', '.join(map(str, blob.get('seeds', [])))} / "
                    f"{blob.get('threshold_acc')}% validation accuracy"
                ),
            ),
        ],
    )


def merge_grids(blobs: list[dict[str, Any]], sources: list[str | Path]) -> dict[str, Any]:
    """One grid.json from several grids of one study (e.g. the same preset run in stages with
    different --axis values or --seeds): their runs together, each cell summarised over every seed
    it has. Refused when the grids vary different keys or hold the same run twice."""
    keys = [[k for a in b["axes"] for k in a["keys"]] for b in blobs]
    if any(k != keys[0] for k in keys):
        raise UserError(
            "these grids vary different settings ("
            + " vs ".join("+".join(k) for k in keys)
            + "); report together only grids of one study"
        )
    runs = [r for b in blobs for r in b["runs"]]
    seen: set[tuple[str, int]] = set()
    for r in runs:
        if (r["cell"], r["seed"]) in seen:
            raise UserError(
                f"cell {r['cell']} at seed {r['seed']} is in more than one of these grids; "
                "pass each run's grid once"
            )
        seen.add((r["cell"], r["seed"]))
    values: list[list[Any]] = []
    for b in blobs:  # a joint axis's values (one axis per grid of this kind), in first-seen order
        for v in (v for a in b["axes"] for v in a["values"]):
            values += [v] if len(b["axes"]) == 1 and v not in values else []
    first = blobs[0]
    axes = [{"keys": keys[0], "values": values}] if values else first["axes"]
    seeds = sorted({r["seed"] for r in runs})
    unfinished = [
        f"{Path(d).name}: {b['provenance']['unfinished']}"
        for d, b in zip(sources, blobs)
        if b.get("provenance", {}).get("unfinished")
    ]
    return {
        **first,
        "axes": axes,
        "seeds": seeds,
        "runs": runs,
        "summary": summarise(runs),
        "provenance": {
            **{k: v for k, v in first.get("provenance", {}).items() if k != "unfinished"},
            "merged_from": ", ".join(str(Path(d)) for d in sources),
            **({"unfinished": "; ".join(unfinished)} if unfinished else {}),
        },
    }


def write_merged_report(
    blobs: list[dict[str, Any]], sources: list[str | Path], out: str | Path
) -> tuple[Path, Path]:
    """The report of several grids of one study (their grid.json contents, from ``sources``),
    written with their merged grid.json into ``out`` (a new directory, or one that holds only such
    a merged report)."""
    out = Path(out)
    blobs = [{**b, "runs": rejudged(b["runs"], Path(src))} for b, src in zip(blobs, sources)]
    blob = merge_grids(blobs, sources)
    if out.exists() and any(p.name not in MERGED_FILES for p in out.iterdir()):
        raise UserError(
            f"{out} holds other files; give --out a new directory for the merged report"
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / "grid.json").write_text(json.dumps(blob, indent=1, allow_nan=False) + "\n")
    return write_grid_report(out)


# What a merged report directory holds (so that rewriting one never deletes anything else).
MERGED_FILES = ("grid.json", "grid.html", "grid.md", "figures")


def write_grid_report(grid_dir: str | Path) -> tuple[Path, Path]:
    """Write grid.html (self-contained), grid.md and figures/*.png into ``grid_dir``."""
    grid_dir = Path(grid_dir)
    blob = load_grid(grid_dir)
    blob["runs"] = rejudged(blob["runs"], grid_dir)
    # Summarised again from the rows, so that a grid written by an older resnet-lab gets today's
    # columns (e.g. the escape steps its rows hold) in a rewritten report.
    blob["summary"] = summarise(blob["runs"])
    num_classes = blob.get("num_classes") or 10
    lay = grid_layout(blob["axes"])
    title = (
        "Phase diagram: mean best validation accuracy"
        + (f" by {' / '.join(lay['row_keys'])}" if lay["row_keys"] else "")
        + (f", one panel per {' / '.join(lay['panel_keys'])}" if lay["panel_keys"] else "")
    )
    figures = [
        ("grid_heatmap", title, png(plots.grid_heatmap(blob["summary"], blob["axes"], num_classes)))
    ]
    groups = [cell_escapes(s) for s in blob["summary"]]
    if any(g.n for g in groups):
        figures.append(
            (
                "plateau_survival",
                (
                    f"Fraction of runs still at ln {num_classes} against steps, per cell "
                    "(Kaplan-Meier; a run that never left is censored at its last step)"
                ),
                png(plots.plateau_survival([g for g in groups if g.n], num_classes)),
            )
        )
    cfg, prov = blob["config"], blob.get("provenance", {})
    seeds = blob.get("seeds", [])
    subtitle = (
        f"{grid_dir.name} · preset {cfg.get('preset')} · model {cfg.get('grid', {}).get('model')} · "
        f"{prov.get('data', '')} · {len(blob['summary'])} cells × {len(seeds)} seed(s) · threshold "
        f"{blob.get('threshold_acc')}%"
    )
    page = Page(
        "resnet-lab grid",
        subtitle,
        grid_sentences(blob),
        _table(blob),
        figures,
        _sections(blob),
        _provenance(blob),
        [settings_yaml(cfg, unread=("models", "seeds", "sweep"))],  # a grid reads grid.*
    )
    return write_pages(grid_dir, page, stem="grid")
