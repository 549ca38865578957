"""``resnet-lab diagnose``."""

from __future__ import annotations

import argparse

from ..errors import UserError
from .flags import add_train_flags, flag_overrides, resolve_settings, setting_flags


def add_parser(sub) -> None:
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
    add_train_flags(dg)


def run(args: argparse.Namespace) -> int:
    import json

    from ..diagnostics.diagnose import format_diagnosis
    from ..diagnostics.targets import diagnose_checkpoint, diagnose_fresh

    overrides = flag_overrides(args)
    if bool(args.checkpoint) == bool(args.model):
        raise UserError(
            "give either a CHECKPOINT or --model NAME (see 'resnet-lab diagnose --help')"
        )
    if args.model:
        # One probe is cheap at any width: the model as its name means it, unless told otherwise.
        cfg = resolve_settings(args, "seed", {**overrides, "models": [args.model]})
        result, labels = diagnose_fresh(args.model, cfg, args.probe_images)
    else:
        ignored = [k for k in overrides if not k.startswith("data.") and k != "train.device"]
        if args.preset or args.config or ignored:
            flags = {k: names[0] for names, k, _ in reversed(setting_flags())}
            given = (
                ["--preset"] * bool(args.preset)
                + ["--config"] * bool(args.config)
                + [flags.get(k, k) for k in ignored]
            )
            raise UserError(
                f"diagnose CHECKPOINT uses the settings saved in the checkpoint; drop {', '.join(given)} "
                "(only the data flags and --device apply)"
            )
        result, labels = diagnose_checkpoint(
            args.checkpoint,
            against=args.against,
            data_overrides={k: v for k, v in overrides.items() if k.startswith("data.")},
            device=overrides.get("train.device") or "auto",  # as diagnose --model
            probe_images=args.probe_images,
            other_data=args.other_data,
        )
    print(json.dumps(result, indent=1) if args.json else format_diagnosis(result, labels))
    return 0
