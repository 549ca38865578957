"""``resnet-lab compare``."""

from __future__ import annotations

import argparse
import datetime as _dt
import shlex

from ..distributed import place
from ..errors import UserError
from .flags import (
    add_launch_flags,
    add_train_flags,
    flag_overrides,
    launch,
    print_config,
    resolve_settings,
)
from .guard import interruptible


def add_parser(sub) -> None:
    cmp = sub.add_parser(
        "compare",
        help="train the seed's models identically and judge each run",
        description="Train SimpleCNN, the 10-conv plain DeepCNN, the seed's ResNet and the "
        "same ResNet without its skips (resnet_seed_plain, its controlled partner) "
        "under identical settings (2015 level: no BN, no LR schedule, weight decay 0), "
        "print one line per epoch, and write a results table (Markdown + JSON), "
        "checkpoints, metrics and TensorBoard logs into --out.",
    )
    add_train_flags(cmp)
    cmp.add_argument(
        "--models",
        action="append",
        metavar="NAME[,NAME]",
        help="which registered models to train (default: simple_cnn,deep_cnn,resnet_seed,resnet_seed_plain; "
        "list them with 'resnet-lab models')",
    )
    cmp.add_argument(
        "--seeds",
        metavar="S[,S]",
        help="train every model once per seed, e.g. 0,1,2: the table, "
        "report and results.json give mean ± std over them, learning curves a band (default: one run, "
        "--seed)",
    )
    cmp.add_argument(
        "--out", metavar="DIR", help="run directory (default runs/compare-<preset>-<time>)"
    )
    cmp.add_argument("--overwrite", action="store_true", help="replace a non-empty --out directory")
    cmp.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue an interrupted compare with its saved settings: "
        "finished models are kept, an interrupted one continues from its last completed epoch "
        "(--jobs and --launcher may differ from the start's)",
    )
    add_launch_flags(cmp)


def run(args: argparse.Namespace) -> int:
    from ..comparison import load_run_config, run_compare
    from ..reporting.report import write_report

    how = launch(args)
    if args.resume:
        if args.out or args.overwrite or flag_overrides(args) or args.preset or args.config:
            raise UserError(
                "--resume continues a run with the settings it was started with; drop the other flags"
            )
        cfg, out = load_run_config(args.resume), args.resume
        print_config(args, cfg)
    else:
        overrides = flag_overrides(args)
        if "sweep.seeds" in overrides:
            if "train.seed" in overrides:
                raise UserError(
                    "--seed and --seeds both given; pass --seeds S,S,... alone (or --seed for one run)"
                )
            overrides["seeds"] = overrides.pop("sweep.seeds")
        cfg = resolve_settings(args, None, overrides)
        if cfg.seeds and "train.seed" in overrides:
            raise UserError(
                "--seed given, but the config file lists seeds; drop --seed or pass --seeds"
            )
        out = args.out or f"runs/compare-{cfg.preset}-{_dt.datetime.now():%Y%m%d-%H%M%S}"
    rows = interruptible(
        f"resnet-lab compare --resume {shlex.quote(str(out))}",
        run_compare,
        cfg,
        out,
        out=out,
        overwrite=args.overwrite,
        resume=bool(args.resume),
        how=how,
    )
    if not place().is_main:
        return 0  # under torchrun: rank 0 writes the report and prints
    html_path, _ = write_report([out])
    print(f"results: {out}/results.md\nreport:  {html_path}")
    return 0 if rows else 1
