"""``resnet-lab analyze``."""

from __future__ import annotations

import argparse
import sys

from ..errors import UserError
from .guard import interruptible


def add_parser(sub) -> None:
    an = sub.add_parser(
        "analyze",
        help="why skip connections work, measured on trained runs: lesion study, "
        "shattered gradients, loss landscape",
        description="Measure trained runs (each RUN_DIR a compare, sweep or grid directory, or one "
        "model's run directory inside it; several give one figure comparing them) on fixed "
        "validation images (never the test set). lesion: delete each block/layer of the trained "
        "net, and k random ones, and measure accuracy (Veit et al. 2016). shatter: correlation of "
        "input gradients along lines between images, at init and trained (Balduzzi et al. 2017). "
        "landscape: the loss on a 2-D grid and a 1-D slice along filter-normalised random "
        "directions, and on the path from initial to trained weights (Li et al. 2018; Goodfellow "
        "et al. 2015). Writes analysis/NAME.json and NAME.png into --out; 'resnet-lab report' "
        "adds a section for each. Measured times per quick-width run on 2 CPU cores: "
        "docs/mechanisms.md.",
    )
    an.add_argument(
        "analysis",
        choices=("lesion", "shatter", "landscape"),
        metavar="{lesion,shatter,landscape}",
        help="which analysis",
    )
    an.add_argument(
        "runs",
        nargs="+",
        metavar="RUN_DIR",
        help="a compare/sweep/grid directory or a model's run directory",
    )
    an.add_argument(
        "--subset",
        type=int,
        metavar="N",
        help="validation images used: lesion 1000, landscape 500 "
        "(per evaluation), shatter 8 (lines, each from one image to the next) by default; smaller is faster",
    )
    an.add_argument(
        "--out",
        metavar="DIR",
        help="where analysis/ goes (default: the study directory holding the runs, "
        "else the first RUN_DIR); entries for other runs already there are kept",
    )
    an.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the lesion's random draws and the landscape's directions (default 0)",
    )
    an.add_argument(
        "--draws",
        type=int,
        metavar="K",
        help="lesion: random draws per number of deleted "
        "units (default 5; all subsets when there are fewer)",
    )
    an.add_argument(
        "--resolution",
        type=int,
        metavar="N",
        help="landscape: grid points per axis of the "
        "2-D surface, odd (default 21, i.e. 441 evaluations)",
    )
    an.add_argument(
        "--directions",
        metavar="FILE.pt",
        help="landscape: reuse saved directions (analysis/"
        "landscape-directions/*.pt) of a model of the same architecture",
    )
    an.add_argument(
        "--data-dir",
        metavar="PATH",
        help="where the runs' data set is now, if it moved since training",
    )
    an.add_argument(
        "--device", default="cpu", metavar="{cpu,cuda}", help="where to evaluate (default cpu)"
    )
    an.add_argument(
        "--other-data",
        action="store_true",
        help="analyse the runs on data other than the run was trained on (changed files, classes or split), "
        "which is refused otherwise; said on stderr and recorded in the output",
    )


def run(args: argparse.Namespace) -> int:
    import torch

    from ..mechanisms.analyze import AnalysisOptions, run_analysis

    if args.device not in ("cpu", "cuda"):
        raise UserError(f"--device must be cpu or cuda, got {args.device!r}")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda, but torch sees no CUDA device here; use --device cpu")
    only = {
        "--draws": ("lesion", args.draws),
        "--resolution": ("landscape", args.resolution),
        "--directions": ("landscape", args.directions),
    }
    for flag, (owner, value) in only.items():
        if value is not None and args.analysis != owner:
            raise UserError(
                f"{flag} is an option of 'analyze {owner}', not of 'analyze {args.analysis}'; drop it"
            )
    given = {"draws": args.draws, "resolution": args.resolution}  # unset: AnalysisOptions' defaults
    opts = AnalysisOptions(
        subset=args.subset,
        seed=args.seed,
        directions=args.directions,
        data_dir=args.data_dir,
        device=args.device,
        other_data=args.other_data,
        **{k: v for k, v in given.items() if v is not None},
    )
    # An analysis writes only after every run is measured, each file atomically: nothing is half-written.
    path = interruptible(
        "",
        run_analysis,
        args.analysis,
        args.runs,
        args.out,
        opts,
        log=lambda s: print(s, file=sys.stderr),
        note="no new results were written (files already in analysis/ are intact). "
        "Run the same command again to redo it.",
    )
    print(
        f"{args.analysis}: {path}\n{'':{len(args.analysis)}}  {path.with_suffix('.png')}\n"
        f"add it to the report: resnet-lab report {path.parent.parent}"
    )
    return 0
