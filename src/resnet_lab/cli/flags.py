"""The command line's flags, generated from the typed settings in config.py (each setting's type,
default and help are written there once), and the flags shared by the study commands."""

from __future__ import annotations

import argparse
import typing
from typing import Any, Literal

from ..errors import UserError


def _metavar(tp: Any) -> str:
    """How a value of type ``tp`` is written on the command line, for --help."""
    from ..config import base_type

    base = base_type(tp)[0]
    if typing.get_origin(base) is Literal:
        return "{" + ",".join(typing.get_args(base)) + "}"
    if typing.get_origin(base) is tuple:
        return f"{_metavar(typing.get_args(base)[0])},..."
    return {bool: "{true,false}", int: "N", float: "X"}.get(base, "TEXT")


def setting_flags() -> list[tuple[list[str], str, dict[str, Any]]]:
    """(flags, dotted config key, argparse kwargs) of every training setting, generated from its
    field in config.py: the type, the default and the help are written there once. Each setting is
    ``--section.field``, and also its short spelling where it has one (``--lr``); a switch such as
    ``--no-augment`` sets one value."""
    from ..config import base_type, settings

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


def as_flags(message: str) -> str:
    """A library message with each setting (`data.data_dir`, `data.augment=false`: UserError's
    convention) written as the flag that sets it (--data-dir, --no-augment)."""
    import re

    from ..config import settings

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


def add_train_flags(p: argparse.ArgumentParser) -> None:
    from ..config import PRESETS

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
    for names, key, kwargs in setting_flags():
        section = key.split(".")[0]
        if section not in groups:
            groups[section] = p.add_argument_group(
                f"{section} settings (config section {section}:)"
            )
        groups[section].add_argument(*names, dest=key, default=None, **kwargs)


def add_launch_flags(p: argparse.ArgumentParser) -> None:
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
        default=None,
        metavar="N|auto",
        help="train N runs at once on this machine, each in its own process with cores/N threads "
        "(unless --threads says otherwise); fewer when N would not fit in memory. auto (the "
        "default): the N that trains fastest, measured on the study's smallest and largest model "
        "and recorded in the study's provenance (1 without measuring for a study under 1,000 "
        "training steps, with --launcher submitit and under torchrun). 1: one run after another "
        "with every core, as the numbers in docs/results.md were measured",
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


def launch(args: argparse.Namespace):
    """The study.Launch that the launch flags ask for, checked (one line) before anything runs."""
    from ..study import Launch, SubmititOptions

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
    how = Launch(args.launcher, args.jobs, opts)  # jobs None: the default (study.Launch)
    how.check()
    return how


def _jobs_arg(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or auto, got {text!r}") from None


class Printed(Exception):
    """--print-config printed the resolved settings: the command ends there, with exit code 0."""


def resolve_settings(
    args: argparse.Namespace, default_preset: str | None, overrides: dict[str, Any]
):
    """The command's resolved config (defaults < preset < file < flags); printed as the YAML that
    --config takes, and the command ended, under --print-config."""
    from ..config import resolve

    cfg = resolve(args.preset or default_preset, args.config, overrides)
    print_config(args, cfg)
    return cfg


def print_config(args: argparse.Namespace, cfg: Any) -> None:
    if getattr(args, "print_config", False):
        import yaml

        from ..config import to_dict

        print(yaml.safe_dump(to_dict(cfg), sort_keys=False), end="")
        raise Printed


def flag_overrides(args: argparse.Namespace) -> dict[str, Any]:
    keys = dict.fromkeys(k for _, k, _ in setting_flags())
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
