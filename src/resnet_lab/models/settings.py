"""The model settings shared by a run's models (config section ``model:``): their types, defaults,
help and checks. Torch-free: validating a config builds no model."""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Literal

from ..errors import UserError
from ..fields import one_of, positive, setting

Norm = Literal["none", "batch"]
Init = Literal[
    "default", "kaiming", "xavier", "orthogonal", "delta_orthogonal", "fixup", "skipinit"
]
Shortcut = Literal["A", "B"]
NORMS = typing.get_args(Norm)
INITS = typing.get_args(Init)
# The classifier's init: as the rest of the net (model.init), or PyTorch's own nn.Linear init,
# U(-1/sqrt(fan_in), 1/sqrt(fan_in)), which is also what the reference Torch code of He et al.'s
# CIFAR nets leaves on its classifier (issue 34).
FcInit = Literal["as_init", "default"]
FC_INITS = typing.get_args(FcInit)
# The deepest He et al. CIFAR net (6n+2) the cifar family builds: 1202 is the paper's deepest.
MAX_DEPTH = 1202


@dataclass(frozen=True)
class ModelConfig:
    """Settings shared by the models of a run. ``None`` (the default of every option but the width)
    leaves each model's own default: a name means that model, so ``plain56`` is He et al.'s net
    (BatchNorm, He init) and ``deep_cnn`` the seed's (no BN, PyTorch's init) unless the user or a
    preset sets the option. A model that lacks a set option refuses it (experiment.builder_options)."""

    width_mult: float = setting(
        1.0,
        "channel multiplier: 1.0 = the seed's widths (64/128/256), 0.25 = 16/32/64 (quick preset)",
        flag="--width",
        metavar="MULT",
    )
    init: Init | None = setting(
        None,
        "weight init (unset: the model's own, e.g. PyTorch's for the seed's nets, He for "
        "plainN/resnetN): default = PyTorch's, or a named scheme; fixup and skipinit need residual "
        "blocks (docs/trainability.md)",
        flag="--init",
    )
    norm: Norm | None = setting(
        None,
        "normalisation after each conv (unset: the model's own, none for the seed's nets, batch "
        "for plainN/resnetN)",
        flag="--norm",
    )
    shortcut: Shortcut | None = setting(
        None,
        "CIFAR family's shortcut where the shape changes: A = zero-padded identity (the paper's), "
        "B = 1x1 projection (unset: the model's own)",
    )
    skip: bool | None = setting(
        None,
        "residual additions on or off, for models that have them as an option (resnet_seed, "
        "cifar_net, notebook_resnet; unset: the model's own); a model without the option refuses it. "
        "resnet_seed_plain is resnet_seed with skips off by name",
        flag="--skip",
        metavar="{on,off}",
    )
    depth: int | None = setting(
        None, "cifar_net: weight layers, 6n+2 (unset: the model's own)", metavar="N"
    )
    fc_init: FcInit | None = setting(
        None,
        "cifar_net (plainN/resnetN): the classifier's init: as_init = model.init's scheme (He for "
        "plainN/resnetN), default = PyTorch's nn.Linear init, as the reference Torch code leaves it "
        "(unset: as_init)",
    )


def check_model_config(cfg: ModelConfig) -> None:
    """The shared model settings' values (each builder checks the options it takes again)."""
    positive("width", cfg.width_mult)
    if cfg.shortcut not in (None, *typing.get_args(Shortcut)):
        raise UserError(
            f"unknown shortcut {cfg.shortcut!r}; choose A (zero-padded identity) or B (projection)"
        )
    if cfg.init is not None:
        one_of("init", cfg.init, INITS)
    if cfg.norm is not None:
        one_of("norm", cfg.norm, NORMS)
    if cfg.fc_init is not None:
        one_of("fc_init", cfg.fc_init, FC_INITS)
