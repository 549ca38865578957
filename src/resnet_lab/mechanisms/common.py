"""What the three mechanism analyses share: finding trained runs, rebuilding their models, the
fixed validation images they are measured on, and batched evaluation.

A *model run* is a directory with ``checkpoints/epoch0000.pt`` and ``checkpoints/final.pt`` (one
model of a compare, one run of a sweep or grid). A *study* directory (a compare's, sweep's or grid's
``--out``) stands for every model run directly inside it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UserError
from ..models.residual_graph import residual_blocks

SUBSET_SEED = (
    1  # which validation images an analysis uses; fixed, so every model sees the same ones
)
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (outputs, targets) -> summed loss


@dataclass
class TrainedRun:
    """One model run, loaded and checked: its checkpoints and how to rebuild its model."""

    dir: Path
    model: str  # registry name
    options: dict[str, Any]  # builder options recorded in the checkpoint
    config: dict[str, Any]  # the run's resolved config (nested dict)
    init_state: dict[str, torch.Tensor]
    final_state: dict[str, torch.Tensor]
    label: str = ""

    def build(self, phase: str) -> nn.Module:
        """The model with its ``"init"`` or ``"final"`` weights, on the CPU, in eval mode."""
        from ..diagnostics.diagnose import build

        state = self.init_state if phase == "init" else self.final_state
        return build(self.model, self.options, state).eval()


def has_skips(model: nn.Module) -> bool:
    """Residual (at least one block adds its input back, as its traced graph shows) or plain."""
    return bool(residual_blocks(model).blocks)


def describe(model: nn.Module) -> dict[str, Any]:
    """Family and main-path depth, the two things every comparison of these analyses is about."""
    from ..train import main_path_depth

    return {"family": "residual" if has_skips(model) else "plain", "depth": main_path_depth(model)}


def by_depth(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entries in the order a reader compares them: by depth, plain before residual."""
    return sorted(
        entries, key=lambda e: (e.get("depth", 0), e.get("family", ""), e.get("label", ""))
    )


def paired(entries: list[dict[str, Any]]) -> dict[int, tuple[dict[str, Any], dict[str, Any]]]:
    """depth -> (plain entry, residual entry), for depths with exactly one of each: with several runs of
    a family at one depth (seeds, settings) a pairing would be arbitrary, so no sentence pairs them."""
    out = {}
    for depth in sorted({e.get("depth") for e in entries}):
        plain = [e for e in entries if e.get("depth") == depth and e.get("family") == "plain"]
        res = [e for e in entries if e.get("depth") == depth and e.get("family") == "residual"]
        if len(plain) == 1 and len(res) == 1:
            out[depth] = (plain[0], res[0])
    return out


def model_runs(paths: list[str | Path]) -> dict[Path, bool]:
    """Expand each path into model runs: itself if it has checkpoints, else the runs directly inside it
    (in the order a compare's results.json lists them, otherwise by name). Maps each run to whether
    it was named itself (True) or found inside a study directory (False)."""
    found: list[tuple[Path, bool]] = []
    for p in map(Path, paths):
        if not p.is_dir():
            raise UserError(
                f"{p} is not a directory; pass the --out directory of a compare, sweep or grid, "
                "or one model's run directory inside it"
            )
        if (p / "checkpoints").is_dir():
            found.append((p, True))
            continue
        inside = sorted(d for d in p.iterdir() if (d / "checkpoints").is_dir())
        order = _compare_order(p)
        inside.sort(key=lambda d: order.index(d.name) if d.name in order else len(order))
        if not inside:
            raise UserError(
                f"{p} holds no checkpoints (no checkpoints/ folder in it or its subfolders); pass "
                "a finished compare, sweep or grid directory or a model's run directory"
            )
        found += [(d, False) for d in inside]
    runs: dict[Path, bool] = {}
    for d, named in found:
        runs[d.resolve()] = runs.get(d.resolve(), False) or named
    return runs


def _compare_order(study: Path) -> list[str]:
    try:
        return [
            r.get("run", r["model"])
            for r in json.loads((study / "results.json").read_text())["results"]
        ]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def load_trained(run_dir: Path) -> TrainedRun:
    """Read and check a model run's initial and final checkpoints; a UserError says what is missing."""
    from ..runs import load_checkpoint

    ckpts = run_dir / "checkpoints"
    if not (ckpts / "final.pt").is_file():
        raise UserError(
            f"{run_dir} has no checkpoints/final.pt: the run is unfinished; finish it (rerun its "
            "command) or leave it out"
        )
    if not (ckpts / "epoch0000.pt").is_file():
        raise UserError(
            f"{run_dir} has no checkpoints/epoch0000.pt (the weights at initialisation); "
            "re-run it, or leave it out"
        )
    final, init = load_checkpoint(ckpts / "final.pt"), load_checkpoint(ckpts / "epoch0000.pt")
    if final["model"] != init["model"]:
        raise UserError(
            f"{run_dir}: epoch0000.pt holds {init['model']!r} but final.pt {final['model']!r}; "
            "the run directory is mixed up, re-run it"
        )
    bad = [
        k
        for k, v in final["state_dict"].items()
        if v.is_floating_point() and not torch.isfinite(v).all()
    ]
    if bad:
        raise UserError(
            f"{run_dir}: the final weights are not finite ({bad[0]}): the run diverged; leave it out"
        )
    return TrainedRun(
        run_dir,
        final["model"],
        dict(final["model_options"]),
        final["config"],
        init["state_dict"],
        final["state_dict"],
    )


def label_runs(runs: list[TrainedRun]) -> None:
    """Short labels: the model name, plus the options and settings that tell same-named runs apart
    (``cifar_net`` runs become ``plain-20`` / ``resnet-20`` when depth and skip tell them apart)."""

    def settings(r: TrainedRun) -> dict[str, Any]:
        from ..config import flatten

        flat = flatten(r.config)
        return {
            **{
                k: v
                for k, v in r.options.items()
                if k not in ("num_classes", "in_channels", "input_size")
            },
            "optim": flat.get("optim.name"),
            "lr": flat.get("optim.lr"),
            "seed": flat.get("train.seed"),
        }

    known = {id(r): settings(r) for r in runs}
    for r in runs:
        same = [o for o in runs if o.model == r.model]
        if len(same) == 1:
            r.label = r.model
            continue
        mine = known[id(r)]
        differ = [k for k in mine if any(known[id(o)].get(k) != mine[k] for o in same)]
        base = r.model
        if {"depth", "skip"} <= set(r.options):
            base = f"{'resnet' if r.options['skip'] else 'plain'}-{r.options['depth']}"
            differ = [k for k in differ if k not in ("depth", "skip")]
        r.label = base + (f" ({', '.join(f'{k}={mine[k]}' for k in differ)})" if differ else "")
    labels = [r.label for r in runs]
    for (
        r
    ) in runs:  # still ambiguous (the same run under two paths cannot happen): add the directory
        if labels.count(r.label) > 1:
            r.label = f"{r.label} [{r.dir.name}]"


def validation_images(data, n: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` fixed validation images (normalised, unaugmented) and labels: never the test set."""
    from ..diagnostics.diagnose import fixed_batch

    return fixed_batch(data.val, data, n=min(n, len(data.val)), seed=SUBSET_SEED, device=device)


def cross_entropy_sum(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(out.float(), y, reduction="sum")


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    batch_size: int = 500,
    loss_fn: LossFn = cross_entropy_sum,
) -> tuple[float, float]:
    """Mean loss and accuracy (%) of ``model`` (in whatever train/eval mode the caller set) on the
    in-memory ``x, y``; accuracy is NaN for outputs that are not class scores."""
    loss, correct = 0.0, 0
    for i in range(0, len(x), batch_size):
        out = model(x[i : i + batch_size])
        yb = y[i : i + batch_size]
        loss += loss_fn(out, yb).item()
        if out.dim() == 2 and yb.dtype == torch.int64:
            correct += (out.argmax(1) == yb).sum().item()
    acc = 100.0 * correct / len(x) if y.dtype == torch.int64 else float("nan")
    return loss / len(x), acc


def recalibrate_bn(model: nn.Module, x: torch.Tensor, batch_size: int = 500) -> None:
    """Set every BatchNorm's running statistics to the mean/variance over ``x``, then eval mode.

    At initialisation BN's running statistics are the defaults (mean 0, variance 1), so an eval-mode
    net would not normalise at all; with its population statistics it behaves as BN does in training,
    while each input's output still depends on that input alone (needed for per-input gradients)."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        model.eval()
        return
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
    model.train()
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            model(x[i : i + batch_size])
    for m, mom in zip(bns, saved):
        m.momentum = mom
    model.eval()


def progress(total: int, desc: str):
    """A progress bar on a terminal, silent otherwise (as training's)."""
    import sys

    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="eval", leave=False, disable=not sys.stderr.isatty())
