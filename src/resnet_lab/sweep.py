"""``resnet-lab sweep``: the degradation experiment — depths x {plain, resnet} x seeds.

A preset of ``grid`` (grid_engine.py): the axes model.depth x model.skip on ``cifar_net``, one run
directory per combination (``<out>/<family><depth>-seed<seed>/``, the same layout as a compare
model run). Resumable: a finished run (run.json status "completed") is skipped, an
interrupted one continues from its last completed epoch, a run that never finished an epoch starts
again. ``sweep.json``/``sweep.md`` hold every run's row and the mean +- std over seeds per family and
depth, next to the published numbers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .config import ExperimentConfig, to_dict
from .distributed import place
from .errors import UserError
from .grid_engine import run_grid, with_grid
from .outcome import Outcome
from .runs import write_json
from .spread import mean_std
from .study import Launch

# He et al. 2015, Table 6: ResNet test error (%), best of runs (110: 6.61 +- 0.16 over 5 runs).
PAPER_TEST_ERROR = {
    ("resnet", 20): 8.75,
    ("resnet", 32): 7.51,
    ("resnet", 44): 7.17,
    ("resnet", 56): 6.97,
    ("resnet", 110): 6.43,
}
# nabla0001/resnet: mean +- std of 5 runs with the paper's recipe.
REPRO_TEST_ERROR = {
    ("resnet", 20): (8.51, 0.22),
    ("resnet", 56): (7.40, 0.27),
    ("resnet", 110): (7.14, 0.20),
    ("plain", 20): (9.78, 0.13),
    ("plain", 56): (12.95, 0.22),
}


def run_name(settings: dict[str, Any], seed: int) -> str:
    """``plain56-seed0``: the sweep's run directory names."""
    family = "resnet" if settings["model.skip"] else "plain"
    return f"{family}{settings['model.depth']}-seed{seed}"


def as_grid(cfg: ExperimentConfig) -> ExperimentConfig:
    """The sweep as a grid: cifar_net over depth x skip (plain = skip off), seeds innermost.
    ``plainN``/``resnetN`` are this same builder, so the runs are the registered nets."""
    skips = ",".join("true" if f == "resnet" else "false" for f in cfg.sweep.families)
    axes = (f"model.depth={','.join(map(str, cfg.sweep.depths))}", f"model.skip={skips}")
    return with_grid(cfg, model="cifar_net", axes=axes, seeds=cfg.sweep.seeds)


def run_sweep(
    cfg: ExperimentConfig,
    out_dir: str | Path,
    log: Callable[[str], None] = print,
    how: Launch = Launch(),
) -> list[dict[str, Any]]:
    """Run (or resume) the sweep on the grid engine, launched as ``how`` says (study.py); writes
    sweep.json next to grid.json."""
    out = Path(out_dir)
    grid_rows = run_grid(as_grid(cfg), out, how=how, run_name=run_name, log=log, kind="sweep")
    if not place().is_main:
        return []  # under torchrun rank 0 writes sweep.json
    rows = []
    for r in grid_rows:
        if r["outcome"] == Outcome.ERROR:
            raise UserError(
                f"sweep run {r['run']} failed ({r['error']}); fix the cause and run the same command "
                "again to resume"
            )
        rows.append(
            {
                **r,
                "family": "resnet" if r["settings"]["model.skip"] else "plain",
                "depth": r["settings"]["model.depth"],
            }
        )
    blob = json.loads((out / "grid.json").read_text())
    write_json(
        out / "sweep.json",
        {
            "config": to_dict(cfg),
            "provenance": blob["provenance"],
            "runs": rows,
            "summary": summarise(rows),
        },
    )
    return rows


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (family, depth): final training error, validation and test error, mean +- std over seeds."""
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    # The clean training error where every run measured it, else the running one: one kind for the
    # whole sweep, so that no two nets are compared on different kinds.
    clean = all(r.get("final_train_clean_acc") is not None for r in rows)
    for r in rows:
        groups.setdefault((r["family"], r["depth"]), []).append(r)
    out = []
    for (family, depth), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        # The clean error: a fixed sample, eval mode, no augmentation (He et al.'s Figure 6); the
        # running one: the last epoch's augmented batches while the weights moved.
        train_err = [
            100 - (r["final_train_clean_acc"] if clean else r["final_train_acc"]) for r in rs
        ]
        val_err = [100 - r["final_val_acc"] for r in rs]
        test_err = [100 - r["test_acc"] for r in rs]
        out.append(
            {
                "family": family,
                "depth": depth,
                "seeds": [r["seed"] for r in rs],
                "train_error": mean_std(train_err),
                "train_error_kind": "clean" if clean else "running",
                "running_train_error": mean_std([100 - r["final_train_acc"] for r in rs]),
                "val_error": mean_std(val_err),
                "test_error": mean_std(test_err),
                "verdicts_init": sorted({r["verdict_init"] for r in rs}),
                "verdicts_final": sorted({r["verdict_final"] for r in rs}),
                "backward_change_init": mean_std(
                    [r["backward_change_init"] for r in rs if r.get("backward_change_init")]
                ),
                "paper_test_error": PAPER_TEST_ERROR.get((family, depth)),
                "repro_test_error": REPRO_TEST_ERROR.get((family, depth)),
            }
        )
    return out
