"""Main path or shortcut: the one place that decides which a layer is on.

A module lies on a skip connection if it is on the shortcut of a residual block found in the
model's traced graph (``residual_graph.residual_blocks``: torchvision's ``downsample``, resnet-lab's
``ResidualBlock.shortcut``, any block written as ``out = branch(x) + shortcut(x)``), or if its
qualified name has a component called ``shortcut`` (the convention every resnet-lab family follows,
and all there is to go on without the model); everything else is on the main path. The diagnostics
label shortcut layers ``proj1, proj2, ...`` (and main-path ones ``conv1, ...``, ``fc``), so code that
only sees those labels asks :func:`is_shortcut_label`. A new family needs nothing here as long as fx
can trace its blocks, or it puts its skip-connection layers in a module called ``shortcut``.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

SHORTCUT_MODULE = "shortcut"
SHORTCUT_LABEL = "proj"


def shortcut_modules(model: nn.Module) -> frozenset[str]:
    """The qualified names of ``model``'s modules that its traced graph shows on a shortcut."""
    # Imported here: this module is also read by reporting/, which imports no torch.
    from .residual_graph import residual_blocks

    return residual_blocks(model).shortcut_modules


def on_shortcut(qualified_name: str, shortcuts: Collection[str] = ()) -> bool:
    """Whether the module named ``qualified_name`` (as ``named_modules`` gives it) is on a shortcut.
    ``shortcuts``: :func:`shortcut_modules` of the model; without it, the naming convention alone."""
    parts = qualified_name.split(".")
    return SHORTCUT_MODULE in parts or any(
        ".".join(parts[:i]) in shortcuts for i in range(1, len(parts) + 1)
    )


def is_shortcut_label(label: str) -> bool:
    """Whether a diagnostics layer label (``conv3``, ``proj1``, ``fc``) names a shortcut layer."""
    return label.startswith(SHORTCUT_LABEL)
