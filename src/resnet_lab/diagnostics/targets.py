"""What ``resnet-lab diagnose`` diagnoses: a fresh model of a registered name, or a run's checkpoint
against its initial one. Each returns the diagnosis (diagnose.py's dict) and the labels its text
form gives the two states; the command line only parses, calls one of these, and prints.

Kept apart from diagnose.py because these read run directories and data settings
(experiment.py), while diagnose.py is what experiment.py itself calls after training.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from ..config import ExperimentConfig, apply_overrides, from_dict
from ..data import load_data
from ..errors import UserError
from ..experiment import builder_options, check_same_data
from ..resources import check_model_fits
from ..runs import load_checkpoint
from ..train import resolve_device
from .diagnose import check_probe_images, diagnose_states, find_initial_checkpoint

Labels = dict[str, str]  # state ("init", "final") -> how the text form names it


def diagnose_fresh(
    name: str, cfg: ExperimentConfig, probe_images: int
) -> tuple[dict[str, Any], Labels]:
    """Model ``name`` freshly initialised with seed ``cfg.train.seed``, on ``cfg.data``."""
    data = load_data(cfg.data)
    options = builder_options(name, cfg, data)
    device = resolve_device(cfg.train.device)
    check_probe_images(probe_images, data)
    check_model_fits(name, options, data.image_shape, probe_images, device)
    torch.manual_seed(cfg.train.seed)
    result = diagnose_states(
        name,
        options,
        data,
        device=device,
        optim=dataclasses.asdict(cfg.optim),
        probe_images=probe_images,
    )
    return result, {"init": f" (fresh, seed {cfg.train.seed})"}


def diagnose_checkpoint(
    checkpoint: str | Path,
    *,
    against: str | Path | None = None,
    data_overrides: dict[str, Any] | None = None,
    device: str = "auto",
    probe_images: int = 256,
    other_data: bool = False,
) -> tuple[dict[str, Any], Labels]:
    """The checkpoint's model against ``against`` (default: the run's epoch0000.pt beside it), with
    the settings saved in the checkpoint; only where the data are (``data.*`` keys) may change.
    Data other than the run was trained on is refused unless ``other_data`` (then recorded)."""
    checkpoint = Path(checkpoint)
    final = load_checkpoint(checkpoint)
    before = Path(against) if against else find_initial_checkpoint(checkpoint)
    if before is None and final["epoch"] > 0:
        raise UserError(
            f"no epoch0000.pt beside {checkpoint}; pass the initial checkpoint with --against"
        )
    init = load_checkpoint(before) if before is not None else final
    if init["model"] != final["model"]:
        raise UserError(
            f"{checkpoint} holds {final['model']!r} but {before} holds {init['model']!r}; "
            "pass checkpoints of the same model"
        )
    cfg = apply_overrides(from_dict(final["config"]), data_overrides or {}, "command line")
    data = load_data(cfg.data)
    other = check_same_data(checkpoint.resolve().parent.parent, data, allow=other_data)
    check_probe_images(probe_images, data)
    same = init is final or init["epoch"] == final["epoch"]
    result = diagnose_states(
        final["model"],
        final["model_options"],
        data,
        init_state=init["state_dict"],
        final_state=None if same else final["state_dict"],
        device=resolve_device(device),
        optim=dataclasses.asdict(cfg.optim),
        probe_images=probe_images,
    )
    if other:
        result["other_data"] = other  # what differs from the data it was trained on
    return result, {
        "init": f" ({(before or checkpoint).name}, epoch {init['epoch']})",
        "final": f" ({checkpoint.name}, epoch {final['epoch']})",
    }
