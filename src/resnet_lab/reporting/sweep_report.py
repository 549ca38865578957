"""The degradation report of a sweep directory: Figure 6/7 analogues, table vs published numbers."""

from __future__ import annotations

import json
from pathlib import Path

from ..files import read_history
from . import plots
from .conclusions import degradation_sentences
from .report import Page, png, read_study, settings_yaml, study_provenance, write_pages
from .survival import escapes


def _fmt(ms) -> str:
    mean, std = ms
    return f"{mean:.2f}" + (f" ± {std:.2f}" if std is not None else "")


def _judged(row: dict, run_dir: Path) -> tuple[dict, dict | None]:
    """The run's row and diagnosis (None if it has none), both by today's rules
    (diagnostics/rejudge.py); both as stored where its config cannot be read."""
    import yaml

    from ..diagnostics.rejudge import rejudged

    path = run_dir / "diagnosis.json"
    diagnosis = json.loads(path.read_text()) if path.is_file() else None
    try:
        optim = yaml.safe_load((run_dir / "config.yaml").read_text())["optim"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return row, diagnosis
    return rejudged(row, diagnosis, optim)


def write_sweep_report(sweep_dir: str | Path) -> tuple[Path, Path]:
    sweep_dir = Path(sweep_dir)
    blob = read_study(sweep_dir, "sweep.json", "resnet-lab sweep")
    runs = []
    for row in blob["runs"]:
        rd = sweep_dir / row["run"]
        history = read_history(rd / "metrics.jsonl")
        row, diagnosis = _judged(row, rd)  # verdicts by today's rules (diagnostics/rejudge.py)
        runs.append({**row, "history": history, "diagnosis": diagnosis})
    figures = [
        (
            "degradation_curves",
            "Training and validation error vs iterations (Figure 6 analogue)",
            png(plots.degradation_curves(runs)),
        ),
        (
            "layer_responses",
            "Layer responses (Figure 7 analogue)",
            png(plots.responses_by_depth(runs)),
        ),
    ]
    kinds = {s.get("train_error_kind", "running") for s in blob["summary"]}
    header = [
        "net",
        "seeds",
        "final clean train error %" if kinds == {"clean"} else "final running train error %",
        "final val error %",
        "test error %",
        "He et al. test error %",
        "nabla0001 test error % (5 runs)",
        "gradients at init (backward signal change)",
        "gradients (trained)",
        "left ln C at step",
    ]
    table_rows = []
    for s in blob["summary"]:
        repro = s["repro_test_error"]
        table_rows.append(
            [
                f"{s['family']}-{s['depth']}",
                ", ".join(map(str, s["seeds"])),
                _fmt(s["train_error"]),
                _fmt(s["val_error"]),
                _fmt(s["test_error"]),
                "-" if s["paper_test_error"] is None else f"{s['paper_test_error']:.2f}",
                "-" if repro is None else f"{repro[0]:.2f} ± {repro[1]:.2f}",
                ", ".join(s.get("verdicts_init", []))
                + (
                    f" (x{s['backward_change_init'][0]:.3g})"
                    if s.get("backward_change_init")
                    else ""
                ),
                ", ".join(s["verdicts_final"]),
                escapes(
                    "",
                    [
                        r
                        for r in blob["runs"]
                        if (r["family"], r["depth"]) == (s["family"], s["depth"])
                    ],
                ).text(),
            ]
        )
    prov = blob["provenance"]
    cfg = blob["config"]
    subtitle = (
        f"{sweep_dir.name} · preset {cfg['preset']} · {prov.get('data', '')} · "
        f"{cfg['train']['max_steps'] or 'all'} iterations, lr {cfg['optim']['lr']} with milestones "
        f"{cfg['optim']['milestones']}"
    )
    sections = [
        (
            r["run"],
            [
                (
                    f"at initialisation: {r['verdict_init']}; after training: {r['verdict_final']}; "
                    f"final running train error {100 - r['final_train_acc']:.2f}%"
                    + (
                        f", clean {100 - r['final_train_clean_acc']:.2f}%"
                        if r.get("final_train_clean_acc") is not None
                        else ""
                    )
                    + f", test error {100 - r['test_acc']:.2f}%"
                )
            ],
        )
        for r in blob["runs"]
    ]
    page = Page(
        "resnet-lab degradation sweep",
        subtitle,
        degradation_sentences(blob["summary"], blob["runs"]),
        (header, table_rows),
        figures,
        sections,
        study_provenance(prov),
        [settings_yaml(cfg, unread=("models", "seeds", "grid"))],  # its grid comes from sweep.*
    )
    return write_pages(sweep_dir, page, stem="sweep")
