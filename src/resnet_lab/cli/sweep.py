"""``resnet-lab sweep``."""

from __future__ import annotations

import argparse

from ..distributed import place
from ..errors import UserError
from .flags import add_launch_flags, add_train_flags, flag_overrides, launch, resolve_settings
from .guard import interruptible, same_command


def add_parser(sub) -> None:
    sw = sub.add_parser(
        "sweep",
        help="the degradation experiment: plain vs residual CIFAR nets over depths and seeds",
        description="Train He et al.'s CIFAR nets (depth 6n+2, BN, He init) for every depth x "
        "{plain, resnet} x seed with the paper's recipe (--preset paper, GPU) or a CPU-sized one "
        "(--preset paper-quick, the default), one run directory each. Resumable: run the same "
        "command again and finished runs are skipped, an interrupted one continues. Writes "
        "sweep.json and sweep.html/.md (Figure 6/7 analogues, table vs the paper's numbers).",
    )
    add_train_flags(sw)
    sw.add_argument(
        "--depths", metavar="D[,D]", help="depths 6n+2, e.g. 20,56 (default: the preset's)"
    )
    add_launch_flags(sw)
    sw.add_argument("--families", metavar="plain,resnet", help="which families (default both)")
    sw.add_argument("--seeds", metavar="S[,S]", help="training seeds, e.g. 0,1,2 (default 0)")
    sw.add_argument(
        "--shortcut",
        metavar="{A,B}",
        dest="model.shortcut",
        help="residual shortcut where the shape changes: A zero-padded identity (paper), B 1x1 projection",
    )
    sw.add_argument(
        "--max-steps", type=int, metavar="N", dest="train.max_steps", help="stop after N iterations"
    )
    sw.add_argument(
        "--out",
        metavar="DIR",
        help="sweep directory (default runs/sweep-<preset>); rerun to resume",
    )


def run(args: argparse.Namespace) -> int:
    from ..reporting.sweep_report import write_sweep_report
    from ..sweep import run_sweep

    overrides = flag_overrides(args)
    if "model.skip" in overrides:
        raise UserError(
            "a sweep sets the skips by family (plain = off, resnet = on); pass --families instead of --skip"
        )
    cfg = resolve_settings(args, "paper-quick", overrides)
    out = args.out or f"runs/sweep-{cfg.preset}"
    interruptible(same_command(), run_sweep, cfg, out, out=out, how=launch(args))
    if not place().is_main:
        return 0  # under torchrun: rank 0 writes the report and prints
    html_path, md_path = write_sweep_report(out)
    print(f"\n{md_path.read_text().split('## Results')[0].strip()}\n\nreport: {html_path}")
    return 0
