"""``resnet-lab bench``."""

from __future__ import annotations

import argparse
import datetime as _dt

from ..errors import UserError
from .flags import add_train_flags, flag_overrides, resolve_settings
from .guard import interruptible


def add_parser(sub) -> None:
    bn = sub.add_parser(
        "bench",
        help="training speed: resnet-lab's pipeline vs the conventional DataLoader one",
        description="Measure, in one process, the training throughput (images/s) of each model "
        "with resnet-lab's pipeline (in-memory uint8 data, batched augmentation on the device, "
        "channels_last, bf16/compile where configured) and with the conventional one "
        "(torchvision dataset, per-image RandomCrop/Flip/ToTensor/Normalize, DataLoader with "
        "--workers processes, NCHW, fp32): same model, seed, batch size and steps, after a "
        "warm-up, --repeats times in alternating order; prints median, spread and ratio, and "
        "the achieved GFLOP/s of the training step against a measured matmul ceiling. "
        "--mode diagnostics times training with and without the per-layer diagnostics; "
        "--mode end-to-end times a whole 'compare' per pipeline. Writes bench.json.",
    )
    add_train_flags(bn)
    bn.add_argument(
        "--models",
        action="append",
        metavar="NAME[,NAME]",
        help="models to measure (default: the preset's)",
    )
    bn.add_argument(
        "--mode",
        choices=("throughput", "diagnostics", "end-to-end", "all", "study"),
        default="throughput",
        help="throughput: timed training steps (default, about a minute for the quick preset); "
        "diagnostics: the cost of the per-layer recording at --diag-every, two models stepping in "
        "turn (about 10 min for the quick preset); end-to-end: a whole compare per pipeline (the "
        "quick preset: about 30 min on 2 CPU cores); all: the three; study: the preset's grid or "
        "sweep trained whole one run at a time and with --jobs auto, --repeats times (shorten it "
        "with --train.max_steps)",
    )
    bn.add_argument(
        "--steps",
        type=int,
        default=30,
        metavar="N",
        help="timed training steps per repeat (default 30)",
    )
    bn.add_argument(
        "--diag-steps",
        type=int,
        default=300,
        metavar="N",
        help="training steps per timing in --mode diagnostics (default 300: three records at the "
        "default interval of 100)",
    )
    bn.add_argument(
        "--warmup",
        type=int,
        default=5,
        metavar="N",
        help="untimed steps before each timing (default 5)",
    )
    bn.add_argument(
        "--repeats",
        type=int,
        default=3,
        metavar="N",
        help="timings per pipeline and model (default 3)",
    )
    bn.add_argument(
        "--out",
        metavar="DIR",
        help="where bench.json (and the end-to-end runs) go (default runs/bench-<preset>-<time>)",
    )


def run(args: argparse.Namespace) -> int:
    from ..bench import run_bench

    if min(args.steps, args.repeats, args.diag_steps) < 1 or args.warmup < 0:
        raise UserError("--steps, --diag-steps and --repeats must be >= 1 and --warmup >= 0")
    cfg = resolve_settings(args, None, flag_overrides(args))
    out = args.out or f"runs/bench-{cfg.preset}-{_dt.datetime.now():%Y%m%d-%H%M%S}"
    interruptible(
        "",
        run_bench,
        cfg,
        out,
        mode=args.mode,
        steps=args.steps,
        warmup=args.warmup,
        repeats=args.repeats,
        diag_steps=args.diag_steps,
        note="a benchmark is not resumable (it is short): run it again with a new --out",
    )
    print(f"bench: {out}/bench.json")
    return 0
