"""Command line: thin subcommands that parse, call the library, and print.

Bad input of any kind ends with one line on stderr (``resnet-lab: error: ...``) and exit code 2.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import errno
import shlex
import sys
import typing
from collections.abc import Sequence
from typing import Any, Literal

from .distributed import from_env, lost_peer, place
from .errors import UserError, one_line
from .outcome import Outcome


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not usage + line
        raise UserError(f"{message} (see '{self.prog} --help')")


def _metavar(tp: Any) -> str:
    """How a value of type ``tp`` is written on the command line, for --help."""
    from .config import base_type

    base = base_type(tp)[0]
    if typing.get_origin(base) is Literal:
        return "{" + ",".join(typing.get_args(base)) + "}"
    if typing.get_origin(base) is tuple:
        return f"{_metavar(typing.get_args(base)[0])},..."
    return {bool: "{true,false}", int: "N", float: "X"}.get(base, "TEXT")


def _setting_flags() -> list[tuple[list[str], str, dict[str, Any]]]:
    """(flags, dotted config key, argparse kwargs) of every training setting, generated from its
    field in config.py: the type, the default and the help are written there once. Each setting is
    ``--section.field``, and also its short spelling where it has one (``--lr``); a switch such as
    ``--no-augment`` sets one value."""
    from .config import base_type, settings

    out = []
    for key, f, tp in settings():
        meta = f.metadata
        base = base_type(tp)[0]
        default = "" if f.default in (None, ()) else f" (default: {_shown_default(f.default)})"
        kwargs: dict[str, Any] = {
            "metavar": meta["metavar"] or _metavar(tp),
            "help": (meta["help"] + default).replace("%", "%%"),  # argparse formats help with %
        }
        if base in (int, float):  # argparse's own one-line error for "--epochs two"
            kwargs["type"] = base
        out.append(([n for n in (meta["flag"], f"--{key}") if n], key, kwargs))
        if meta["switch"]:
            flag, value, help_ = meta["switch"]
            out.append(([flag], key, {"action": "store_const", "const": value, "help": help_}))
    return out


def _as_flags(message: str) -> str:
    """A library message with each setting (`data.data_dir`, `data.augment=false`: UserError's
    convention) written as the flag that sets it (--data-dir, --no-augment)."""
    import re

    from .config import settings

    meta = {key: f.metadata for key, f, _ in settings()}

    def flag(m: re.Match) -> str:
        key, value = m.group(1), m.group(2)
        if key not in meta:
            return m.group(0)
        switch = meta[key]["switch"]
        # A setting with no flag of its own but a switch that turns it on (--sync-bn) is that switch.
        on = switch[0] if switch and switch[1] is True and value is None else None
        name = meta[key]["flag"] or on or f"--{key}"
        if value is not None and switch and _shown_default(switch[1]) == value:
            return switch[0]
        return name if value is None else f"{name} {value}"

    return re.sub(r"`([a-z_]+\.[a-z_]+)(?:=([^`]*))?`", flag, message)


def _shown_default(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def _add_train_flags(p: argparse.ArgumentParser) -> None:
    from .config import PRESETS

    p.add_argument(
        "--preset",
        metavar="NAME",
        help=f"named settings, one of: {', '.join(PRESETS)} "
        "(what each sets: src/resnet_lab/config.py; each command's default is in its description)",
    )
    p.add_argument(
        "--config",
        metavar="FILE.yaml",
        help="YAML file of settings, e.g. 'optim: {lr: 0.02}'; "
        "precedence: defaults < preset < file < flags",
    )
    p.add_argument(
        "--print-config",
        action="store_true",
        help="print the resolved settings as YAML (a file --config takes) and exit",
    )
    groups: dict[str, argparse._ArgumentGroup] = {}
    for names, key, kwargs in _setting_flags():
        section = key.split(".")[0]
        if section not in groups:
            groups[section] = p.add_argument_group(
                f"{section} settings (config section {section}:)"
            )
        groups[section].add_argument(*names, dest=key, default=None, **kwargs)


def _add_launch_flags(p: argparse.ArgumentParser) -> None:
    """How a study's runs are trained (compare, grid, sweep; study.py): --launcher, --jobs and the
    submitit job settings."""
    p.add_argument(
        "--launcher",
        choices=("inline", "submitit"),
        default="inline",
        help="inline: the runs in this machine's processes (default); submitit: each run a job, a "
        "Slurm job array where Slurm is installed, local processes otherwise (pip install "
        "'resnet-lab[cluster]')",
    )
    p.add_argument(
        "--jobs",
        type=_jobs_arg,
        default=1,
        metavar="N|auto",
        help="train N runs at once on this machine, each in its own process with cores/N threads "
        "(unless --threads says otherwise); fewer when N would not fit in memory. auto: the N that "
        "trains fastest, measured on the study's smallest and largest model (recorded in the "
        "study's provenance). Default 1: one run after another with every core",
    )
    p.add_argument("--slurm-partition", metavar="NAME", help="submitit on Slurm: the partition")
    p.add_argument(
        "--gpus-per-job",
        type=int,
        metavar="N",
        help="submitit: GPUs per run (default: the executor's)",
    )
    p.add_argument(
        "--cpus-per-job",
        type=int,
        metavar="N",
        help="submitit: CPU cores per run (default: the executor's)",
    )
    p.add_argument(
        "--max-parallel",
        type=int,
        metavar="N",
        help="submitit: runs at once (Slurm array parallelism; "
        "without Slurm, local jobs in waves of N, default 1)",
    )
    p.add_argument(
        "--timeout-min",
        type=int,
        default=60,
        metavar="MIN",
        help="submitit: time limit per run (default 60)",
    )


def _launch(args: argparse.Namespace):
    """The study.Launch that the launch flags ask for, checked (one line) before anything runs."""
    from .study import Launch, SubmititOptions

    counts = (args.cpus_per_job, args.max_parallel)
    if (
        (args.gpus_per_job or 0) < 0
        or any(v is not None and v < 1 for v in counts)
        or (args.timeout_min < 1)
    ):
        raise UserError(
            "--gpus-per-job must be >= 0, --cpus-per-job, --max-parallel and --timeout-min >= 1"
        )
    opts = SubmititOptions(
        slurm_partition=args.slurm_partition,
        gpus_per_job=args.gpus_per_job,
        timeout_min=args.timeout_min,
        cpus_per_job=args.cpus_per_job,
        max_parallel=args.max_parallel,
    )
    how = Launch(args.launcher, args.jobs, opts)
    how.check()
    return how


def _jobs_arg(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or auto, got {text!r}") from None


class _Printed(Exception):
    """--print-config printed the resolved settings: the command ends there, with exit code 0."""


def _settings(args: argparse.Namespace, default_preset: str | None, overrides: dict[str, Any]):
    """The command's resolved config (defaults < preset < file < flags); printed as the YAML that
    --config takes, and the command ended, under --print-config."""
    from .config import resolve

    cfg = resolve(args.preset or default_preset, args.config, overrides)
    _print_config(args, cfg)
    return cfg


def _print_config(args: argparse.Namespace, cfg: Any) -> None:
    if getattr(args, "print_config", False):
        import yaml

        from .config import to_dict

        print(yaml.safe_dump(to_dict(cfg), sort_keys=False), end="")
        raise _Printed


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    keys = dict.fromkeys(k for _, k, _ in _setting_flags())
    out = {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}
    if getattr(args, "models", None):
        out["models"] = [m for item in args.models for m in item.split(",") if m]
    for flag, key in (
        ("depths", "sweep.depths"),
        ("families", "sweep.families"),
        ("seeds", "sweep.seeds"),
    ):
        value = getattr(args, flag, None)
        if value is not None:
            if not value.replace(",", "").strip():
                raise UserError(
                    f"--{flag} is empty; give a comma-separated list, e.g. --{flag} "
                    + {"depths": "20,56", "families": "plain,resnet", "seeds": "0,1,2"}[flag]
                )
            out[key] = value
    for key in ("model.shortcut", "train.max_steps", "grid.model", "grid.threshold_acc"):
        if getattr(args, key, None) is not None:
            out[key] = getattr(args, key)
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="resnet-lab",
        description="Verify, with numbers, what residual connections do for deep networks.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    _compare_parser(sub)
    _diagnose_parser(sub)
    _sweep_parser(sub)
    _report_parser(sub)
    _bench_parser(sub)
    _grid_parser(sub)
    _analyze_parser(sub)
    sub.add_parser("models", help="list registered models with their options and parameter counts")
    return parser


def _compare_parser(sub) -> None:
    cmp = sub.add_parser(
        "compare",
        help="train the seed's models identically and judge each run",
        description="Train SimpleCNN, the 10-conv plain DeepCNN, the seed's ResNet and the "
        "same ResNet without its skips (resnet_seed_plain, its controlled partner) "
        "under identical settings (2015 level: no BN, no LR schedule, weight decay 0), "
        "print one line per epoch, and write a results table (Markdown + JSON), "
        "checkpoints, metrics and TensorBoard logs into --out.",
    )
    _add_train_flags(cmp)
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
    _add_launch_flags(cmp)


def _diagnose_parser(sub) -> None:
    dg = sub.add_parser(
        "diagnose",
        help="explain a model: predictions, per-layer statistics, verdict",
        description="Analyse a checkpoint against the run's initial checkpoint (found beside it, "
        "or --against): raw logits, softmax and predicted classes before and after training, "
        "per-layer response std, backward signal, gradient norms and relative weight change, and a "
        "verdict (vanishing / exploding gradients, dead units, healthy) by the rules in "
        "docs/diagnostics.md. Without a checkpoint, --model analyses a freshly initialised model, "
        "at full width with its own defaults (preset 'seed': nothing changed) unless --preset or "
        "flags say otherwise.",
    )
    dg.add_argument(
        "checkpoint", nargs="?", metavar="CHECKPOINT", help="a .pt file from a run's checkpoints/"
    )
    dg.add_argument(
        "--against",
        metavar="INIT.pt",
        help="the 'before' checkpoint (default: epoch0000.pt beside CHECKPOINT)",
    )
    dg.add_argument(
        "--model", metavar="NAME", help="analyse a fresh model of this name instead of a checkpoint"
    )
    dg.add_argument(
        "--probe-images",
        type=int,
        default=256,
        metavar="N",
        help="training images in the fixed probe batch (default 256; at most the training split)",
    )
    dg.add_argument("--json", action="store_true", help="print the analysis as JSON")
    dg.add_argument(
        "--other-data",
        action="store_true",
        help="diagnose CHECKPOINT on data other than the run was trained on (changed files, classes or split), "
        "which is refused otherwise; said on stderr and recorded in the output",
    )
    _add_train_flags(dg)


def _sweep_parser(sub) -> None:
    sw = sub.add_parser(
        "sweep",
        help="the degradation experiment: plain vs residual CIFAR nets over depths and seeds",
        description="Train He et al.'s CIFAR nets (depth 6n+2, BN, He init) for every depth x "
        "{plain, resnet} x seed with the paper's recipe (--preset paper, GPU) or a CPU-sized one "
        "(--preset paper-quick, the default), one run directory each. Resumable: run the same "
        "command again and finished runs are skipped, an interrupted one continues. Writes "
        "sweep.json and sweep.html/.md (Figure 6/7 analogues, table vs the paper's numbers).",
    )
    _add_train_flags(sw)
    sw.add_argument(
        "--depths", metavar="D[,D]", help="depths 6n+2, e.g. 20,56 (default: the preset's)"
    )
    _add_launch_flags(sw)
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


def _report_parser(sub) -> None:
    rp = sub.add_parser(
        "report",
        help="write the HTML + Markdown report of compare runs (or rewrite a sweep's or grid's)",
        description="Write report.html (self-contained: images inline, no network) and report.md "
        "with figures/*.png for finished compare runs. Several runs (e.g. the same compare with "
        "--optimizer sgd and adam) are reported together, with conclusions about the optimiser. "
        "Results of 'resnet-lab analyze' found in the runs' analysis/ folders become sections. "
        "A single sweep or grid directory gets its sweep.html or grid.html rewritten; several grids of one "
        "study (e.g. one preset run in stages with different --axis or --seeds) are reported together "
        "into --out, each cell over all its seeds.",
    )
    rp.add_argument(
        "runs",
        nargs="+",
        metavar="RUN_DIR",
        help="the --out directory of a finished compare (or of a sweep or grid)",
    )
    rp.add_argument(
        "--out", metavar="DIR", help="where to write the report (default: the first RUN_DIR)"
    )


def _bench_parser(sub) -> None:
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
    _add_train_flags(bn)
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


def _grid_parser(sub) -> None:
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
    _add_train_flags(gr)
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
    _add_launch_flags(gr)
    gr.add_argument(
        "--yes",
        action="store_true",
        help=f"start a grid of more than {GRID_CONFIRM_RUNS} runs (without it such a grid is refused, "
        "so that a typo in an axis does not start days of training)",
    )


def _analyze_parser(sub) -> None:
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


class _Terminated(BaseException):
    """Raised from the SIGTERM handler so that training unwinds like a Ctrl-C (a BaseException, so
    that code which records a failing grid cell and goes on does not swallow it)."""


def _on_sigterm(signum, frame) -> None:
    raise _Terminated()


# Operating-system failures a user can fix (space, permissions): one line, exit 1, never a traceback.
_FIXABLE_OS_ERRORS = {
    errno.ENOSPC: "the disk is full; free space",
    errno.EDQUOT: "the disk quota is exceeded; free space",
    errno.EACCES: "permission denied; fix the permissions",
    errno.EPERM: "operation not permitted; fix the permissions",
    errno.EROFS: "the file system is read-only; write somewhere else",
}


def _os_error_line(exc: OSError) -> str:
    where = f" ({exc.filename})" if exc.filename else ""
    return f"cannot write{where}: {_FIXABLE_OS_ERRORS[exc.errno]}"


def _say(line: str, own: bool = False) -> None:
    """One line on stderr, once per run: under torchrun rank 0 says it for all (every rank meets
    the same bad input and the same signal), except a failure of a rank's own after the ranks
    joined (``own``), which that rank says, naming itself."""
    here = place()
    if here.is_main and from_env().is_main:
        print(line, file=sys.stderr)
    elif own and here.active:
        print(f"[rank {here.rank}] {line}", file=sys.stderr)


# A grid larger than this asks for --yes (the trainability preset has 330 runs, so it passes).
GRID_CONFIRM_RUNS = 400

_ARGV: list[str] = []  # this invocation's arguments (main sets them), for "run the same command"


def _same_command() -> str:
    return shlex.join(["resnet-lab", *_ARGV]) + " (the same command)"


def _interruptible(resume_hint: str, fn, *a, out=None, note: str | None = None, **kw):
    """Run ``fn``; on Ctrl-C (exit 130) or SIGTERM (exit 143) say how to resume, and on a full disk or
    a permission error (exit 1) say what to fix and how to resume. Each model's completed epochs
    are in its checkpoints/last.pt, so only the current epoch's steps are lost. ``out``: the
    directory the run writes; no resume command is offered while it holds nothing. ``note``
    replaces the resume sentence for work that is not training (e.g. analyze)."""
    from pathlib import Path

    from .rundir import is_run_dir

    def resumable() -> bool:
        return out is None or (Path(out).is_dir() and is_run_dir(Path(out)))

    try:
        return fn(*a, **kw)
    except (KeyboardInterrupt, _Terminated) as exc:
        code = 143 if isinstance(exc, _Terminated) else 130
        if note is None:
            note = (
                f"each model continues from its last checkpoint. Resume with: {resume_hint}"
                if resumable()
                else "stopped before anything was written; nothing to resume"
            )
        _say(f"resnet-lab: interrupted; {note}")
        raise SystemExit(code) from None
    except OSError as exc:
        if exc.errno not in _FIXABLE_OS_ERRORS:
            raise
        then = f". Resume with: {resume_hint}" if note is None and resumable() else ""
        _say(f"resnet-lab: error: {_os_error_line(exc)}{then}")
        raise SystemExit(1) from None
    except RuntimeError as exc:
        if (why := lost_peer(exc)) is None:
            raise
        # Said by each surviving rank (rank 0 may be the one lost); torchrun then ends the job.
        then = (
            f"; resume under torchrun with: {resume_hint}" if note is None and resumable() else ""
        )
        _say(f"resnet-lab: error: {one_line(why, 300)}{then}", own=True)
        raise SystemExit(1) from None


def _cmd_compare(args: argparse.Namespace) -> int:
    from .comparison import load_run_config, run_compare
    from .reporting.report import write_report

    how = _launch(args)
    if args.resume:
        if args.out or args.overwrite or _overrides(args) or args.preset or args.config:
            raise UserError(
                "--resume continues a run with the settings it was started with; drop the other flags"
            )
        cfg, out = load_run_config(args.resume), args.resume
        _print_config(args, cfg)
    else:
        overrides = _overrides(args)
        if "sweep.seeds" in overrides:
            if "train.seed" in overrides:
                raise UserError(
                    "--seed and --seeds both given; pass --seeds S,S,... alone (or --seed for one run)"
                )
            overrides["seeds"] = overrides.pop("sweep.seeds")
        cfg = _settings(args, None, overrides)
        if cfg.seeds and "train.seed" in overrides:
            raise UserError(
                "--seed given, but the config file lists seeds; drop --seed or pass --seeds"
            )
        out = args.out or f"runs/compare-{cfg.preset}-{_dt.datetime.now():%Y%m%d-%H%M%S}"
    rows = _interruptible(
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


def _cmd_diagnose(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    import torch

    from .config import apply_overrides, from_dict
    from .data import load_data
    from .diagnostics.analyze import (
        check_probe_images,
        diagnose_states,
        find_initial_checkpoint,
        format_diagnosis,
    )
    from .experiment import builder_options, check_same_data
    from .resources import check_model_fits
    from .runs import load_checkpoint
    from .train import resolve_device, sgd_step

    overrides = _overrides(args)
    if bool(args.checkpoint) == bool(args.model):
        raise UserError(
            "give either a CHECKPOINT or --model NAME (see 'resnet-lab diagnose --help')"
        )
    if args.model:
        # One probe is cheap at any width: the model as its name means it, unless told otherwise.
        cfg = _settings(args, "seed", {**overrides, "models": [args.model]})
        data = load_data(cfg.data)
        options = builder_options(args.model, cfg, data)
        check_probe_images(args.probe_images, data)
        check_model_fits(
            args.model,
            options,
            data.image_shape,
            args.probe_images,
            resolve_device(cfg.train.device),
        )
        torch.manual_seed(cfg.train.seed)
        result = diagnose_states(
            args.model,
            options,
            data,
            device=resolve_device(cfg.train.device),
            **sgd_step(cfg.optim),
            probe_images=args.probe_images,
        )
        labels = {"init": f" (fresh, seed {cfg.train.seed})"}
    else:
        final = load_checkpoint(args.checkpoint)
        against = (
            Path(args.against) if args.against else find_initial_checkpoint(Path(args.checkpoint))
        )
        if against is None and final["epoch"] > 0:
            raise UserError(
                f"no epoch0000.pt beside {args.checkpoint}; pass the initial checkpoint with --against"
            )
        init = load_checkpoint(against) if against is not None else final
        if init["model"] != final["model"]:
            raise UserError(
                f"{args.checkpoint} holds {final['model']!r} but {against} holds {init['model']!r}; "
                "pass checkpoints of the same model"
            )
        data_keys = {k: v for k, v in overrides.items() if k.startswith("data.")}
        ignored = [k for k in overrides if not k.startswith("data.") and k != "train.device"]
        if args.preset or args.config or ignored:
            flags = {k: names[0] for names, k, _ in reversed(_setting_flags())}
            given = (
                ["--preset"] * bool(args.preset)
                + ["--config"] * bool(args.config)
                + [flags.get(k, k) for k in ignored]
            )
            raise UserError(
                f"diagnose CHECKPOINT uses the settings saved in the checkpoint; drop {', '.join(given)} "
                "(only the data flags and --device apply)"
            )
        cfg = apply_overrides(from_dict(final["config"]), data_keys, "command line")
        data = load_data(cfg.data)
        run_dir = Path(args.checkpoint).resolve().parent.parent
        other = check_same_data(run_dir, data, allow=args.other_data)
        check_probe_images(args.probe_images, data)
        device = resolve_device(args.__dict__.get("train.device") or "auto")  # as diagnose --model
        same = init is final or init["epoch"] == final["epoch"]
        result = diagnose_states(
            final["model"],
            final["model_options"],
            data,
            init_state=init["state_dict"],
            final_state=None if same else final["state_dict"],
            device=device,
            **sgd_step(cfg.optim),
            probe_images=args.probe_images,
        )
        if other:
            result["other_data"] = other  # what differs from the data it was trained on
        labels = {
            "init": f" ({against.name if against else Path(args.checkpoint).name}, epoch {init['epoch']})",
            "final": f" ({Path(args.checkpoint).name}, epoch {final['epoch']})",
        }
    print(json.dumps(result, indent=1) if args.json else format_diagnosis(result, labels))
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from .reporting.sweep_report import write_sweep_report
    from .sweep import run_sweep

    overrides = _overrides(args)
    if "model.skip" in overrides:
        raise UserError(
            "a sweep sets the skips by family (plain = off, resnet = on); pass --families instead of --skip"
        )
    cfg = _settings(args, "paper-quick", overrides)
    out = args.out or f"runs/sweep-{cfg.preset}"
    _interruptible(_same_command(), run_sweep, cfg, out, out=out, how=_launch(args))
    if not place().is_main:
        return 0  # under torchrun: rank 0 writes the report and prints
    html_path, md_path = write_sweep_report(out)
    print(f"\n{md_path.read_text().split('## Results')[0].strip()}\n\nreport: {html_path}")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from .bench import run_bench

    if min(args.steps, args.repeats, args.diag_steps) < 1 or args.warmup < 0:
        raise UserError("--steps, --diag-steps and --repeats must be >= 1 and --warmup >= 0")
    cfg = _settings(args, None, _overrides(args))
    out = args.out or f"runs/bench-{cfg.preset}-{_dt.datetime.now():%Y%m%d-%H%M%S}"
    _interruptible(
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


def _cmd_grid(args: argparse.Namespace) -> int:
    from .grid_engine import parse_axis, run_grid
    from .reporting.grid_report import write_grid_report

    overrides = _overrides(args)
    if args.axis:
        overrides["grid.axes"] = list(args.axis)
    if args.seeds:
        overrides["grid.seeds"] = overrides.pop("sweep.seeds")
    if "train.seed" in overrides:
        raise UserError(
            "a grid runs every cell once per seed of --seeds; pass --seeds instead of --seed"
        )
    cfg = _settings(args, "trainability-quick", overrides)
    from .config import load_yaml

    fixed = set(overrides) | (set(load_yaml(args.config)) if args.config else set())
    varied = sorted(fixed & {k for a in cfg.grid.axes for k in parse_axis(a).keys})
    if varied:
        raise UserError(
            f"{', '.join(varied)} is set by a flag or the config file and varied by an axis of this "
            "grid; drop the setting or the axis"
        )
    how = _launch(args)
    import math

    runs = math.prod(len(parse_axis(a).values) for a in cfg.grid.axes) * len(cfg.grid.seeds)
    if runs > GRID_CONFIRM_RUNS and not args.yes:
        raise UserError(
            f"this grid has {runs:,} runs ({len(cfg.grid.seeds)} seed(s) per cell); pass --yes to "
            "start it, or fewer axis values or seeds"
        )
    out = args.out or f"runs/grid-{cfg.preset}"
    rows = _interruptible(_same_command(), run_grid, cfg, out, out=out, how=how)
    if not place().is_main:
        return 0  # under torchrun: rank 0 writes the report and prints
    html_path, md_path = write_grid_report(out)
    failed = [f"{r['run']} ({r['error']})" for r in rows if r["outcome"] == Outcome.ERROR]
    print(
        f"\ngrid: {len(rows)} run(s), {len(failed)} with errors\nreport: {html_path}\n"
        f"        {md_path}"
    )
    if failed:
        _say(
            f"resnet-lab: error: {len(failed)} of {len(rows)} grid run(s) failed: "
            f"{one_line(_as_flags('; '.join(failed)), 400)}; each is recorded in grid.json. Fix the cause, then "
            "run the same command again to retry them"
        )
    return 1 if failed else 0


def _cmd_analyze(args: argparse.Namespace) -> int:
    import torch

    from .mechanisms.driver import AnalysisOptions, run_analysis

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
    path = _interruptible(
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


def _cmd_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .rundir import hold_runs

    # The runs stay as they are while they are read and the report is written beside them. Grids
    # reported together are only read (a grid still running may be among them: its finished runs
    # are reported); the lock is held on the directory written into.
    together = len(args.runs) > 1 and all(_is_grid(Path(r)) for r in args.runs)
    held = [Path(args.out)] if together and args.out else [Path(r) for r in args.runs]
    with hold_runs(held + ([Path(args.out)] if args.out and not together else [])):
        html_path, md_path = _write_reports(args.runs, args.out)
    print(f"report: {html_path}\n        {md_path}")
    return 0


def _write_reports(runs: list[str], out: str | None):
    from pathlib import Path

    from .reporting.grid_report import write_grid_report, write_merged_report
    from .reporting.report import write_report
    from .reporting.sweep_report import write_sweep_report

    # A sweep or grid directory gets its own report (rewritten in place, with any analyze sections).
    study = {"sweep.json": write_sweep_report, "grid.json": write_grid_report}
    writer = next(
        (w for f, w in study.items() if len(runs) == 1 and (Path(runs[0]) / f).is_file()), None
    )
    if writer is not None:
        if out:
            raise UserError("a sweep or grid report is written into its own directory; drop --out")
        return writer(runs[0])
    if len(runs) > 1 and all(_is_grid(Path(r)) for r in runs):
        from .grid_engine import unfinished_grid
        from .reporting.grid_report import load_grid

        if not out:
            raise UserError(
                "several grids are reported together into a directory of their own; pass --out DIR"
            )
        blobs = [
            load_grid(r) if (Path(r) / "grid.json").is_file() else unfinished_grid(Path(r))
            for r in runs
        ]
        return write_merged_report(blobs, runs, out)
    return write_report(runs, out)


def _is_grid(path) -> bool:
    """A grid directory: finished (grid.json) or not yet (resnet-lab's grid marker)."""
    from .rundir import kind_of

    return (path / "grid.json").is_file() or (path.is_dir() and kind_of(path) == "grid")


def _cmd_models(args: argparse.Namespace) -> int:
    from .registry import create_model, list_models, model_options

    for name in list_models():
        params = sum(p.numel() for p in create_model(name).parameters())
        print(f"{name:16s} {params:>11,} params   options: {', '.join(model_options(name))}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    import signal

    signal.signal(signal.SIGTERM, _on_sigterm)
    _ARGV[:] = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
        if args.command is None:
            build_parser().print_help()
            return 2
        return {
            "compare": _cmd_compare,
            "diagnose": _cmd_diagnose,
            "sweep": _cmd_sweep,
            "report": _cmd_report,
            "analyze": _cmd_analyze,
            "bench": _cmd_bench,
            "grid": _cmd_grid,
            "models": _cmd_models,
        }[args.command](args)
    except _Printed:
        return 0
    except UserError as exc:
        _say(f"resnet-lab: error: {one_line(_as_flags(str(exc)))}", own=True)
        return 2
    except KeyboardInterrupt:
        _say("resnet-lab: interrupted")
        return 130
    except _Terminated:
        _say("resnet-lab: terminated")
        return 143
    except OSError as exc:
        if exc.errno not in _FIXABLE_OS_ERRORS:
            raise
        _say(f"resnet-lab: error: {_os_error_line(exc)}", own=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
