"""``resnet-lab grid``."""

from __future__ import annotations

import argparse

from ..distributed import place
from ..errors import UserError, one_line
from ..outcome import Outcome
from .flags import (
    add_launch_flags,
    add_train_flags,
    as_flags,
    flag_overrides,
    launch,
    resolve_settings,
)
from .guard import interruptible, same_command, say

# A grid larger than this asks for --yes (the trainability preset has 330 runs, so it passes).
GRID_CONFIRM_RUNS = 400


def add_parser(sub) -> None:
    gr = sub.add_parser(
        "grid",
        help="a study over any config axes, e.g. the trainability map (depth x skip x norm x "
        "init x optimiser)",
        description="Train one run per cell of the product of the --axis values and per seed, each "
        "in its own run directory under --out, and write grid.json (every run's row, mean +- std "
        "over seeds per cell) and grid.html/.md (a heat map per optimiser, conclusions computed from "
        "the cells). Resumable: run the same command again and finished runs are skipped, an "
        "interrupted one continues. Default preset: trainability-quick (27 min measured on 2 CPU cores; "
        "docs/trainability.md). --axis replaces the preset's axes.",
    )
    add_train_flags(gr)
    gr.add_argument(
        "--axis",
        action="append",
        metavar="KEY=V1,V2",
        help="an axis over a dotted config key, values typed by that key (e.g. model.depth=8,20,56, "
        "model.skip=true,false, model.norm=none,batch, model.init=default,kaiming, optim.name=sgd,adam, "
        "optim.lr=0.01,0.1); repeat for more axes. A joint axis sets keys together: "
        "optim.name+optim.lr=sgd+0.01,adam+0.001",
    )
    gr.add_argument(
        "--model",
        dest="grid.model",
        metavar="NAME",
        help="the registered model every cell builds (default cifar_net; 'resnet-lab models' lists them)",
    )
    gr.add_argument(
        "--seeds",
        metavar="S[,S]",
        help="training seeds per cell, e.g. 0,1,2 (default: the preset's)",
    )
    gr.add_argument(
        "--threshold",
        type=float,
        dest="grid.threshold_acc",
        metavar="ACC",
        help="validation accuracy (%%) at which a run counts as passed (default 20)",
    )
    gr.add_argument(
        "--out", metavar="DIR", help="grid directory (default runs/grid-<preset>); rerun to resume"
    )
    add_launch_flags(gr)
    gr.add_argument(
        "--yes",
        action="store_true",
        help=f"start a grid of more than {GRID_CONFIRM_RUNS} runs (without it such a grid is refused, "
        "so that a typo in an axis does not start days of training)",
    )


def run(args: argparse.Namespace) -> int:
    from ..grid_engine import parse_axis, run_grid
    from ..reporting.grid_report import write_grid_report

    overrides = flag_overrides(args)
    if args.axis:
        overrides["grid.axes"] = list(args.axis)
    if args.seeds:
        overrides["grid.seeds"] = overrides.pop("sweep.seeds")
    if "train.seed" in overrides:
        raise UserError(
            "a grid runs every cell once per seed of --seeds; pass --seeds instead of --seed"
        )
    cfg = resolve_settings(args, "trainability-quick", overrides)
    from ..config import load_yaml

    fixed = set(overrides) | (set(load_yaml(args.config)) if args.config else set())
    varied = sorted(fixed & {k for a in cfg.grid.axes for k in parse_axis(a).keys})
    if varied:
        raise UserError(
            f"{', '.join(varied)} is set by a flag or the config file and varied by an axis of this "
            "grid; drop the setting or the axis"
        )
    how = launch(args)
    import math

    runs = math.prod(len(parse_axis(a).values) for a in cfg.grid.axes) * len(cfg.grid.seeds)
    if runs > GRID_CONFIRM_RUNS and not args.yes:
        raise UserError(
            f"this grid has {runs:,} runs ({len(cfg.grid.seeds)} seed(s) per cell); pass --yes to "
            "start it, or fewer axis values or seeds"
        )
    out = args.out or f"runs/grid-{cfg.preset}"
    rows = interruptible(same_command(), run_grid, cfg, out, out=out, how=how)
    if not place().is_main:
        return 0  # under torchrun: rank 0 writes the report and prints
    html_path, md_path = write_grid_report(out)
    failed = [f"{r['run']} ({r['error']})" for r in rows if r["outcome"] == Outcome.ERROR]
    print(
        f"\ngrid: {len(rows)} run(s), {len(failed)} with errors\nreport: {html_path}\n"
        f"        {md_path}"
    )
    if failed:
        say(
            f"resnet-lab: error: {len(failed)} of {len(rows)} grid run(s) failed: "
            f"{one_line(as_flags('; '.join(failed)), 400)}; each is recorded in grid.json. Fix the cause, then "
            "run the same command again to retry them"
        )
    return 1 if failed else 0
