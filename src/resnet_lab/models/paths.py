"""Main path or shortcut: the one place that decides which a layer is on.

Convention for every model family: a module whose qualified name has a component called
``shortcut`` (``ResidualBlock.shortcut``) lies on a skip connection; everything else is on the
main path. The diagnostics label shortcut layers ``proj1, proj2, ...`` (and main-path ones
``conv1, ...``, ``fc``), so code that only sees those labels asks :func:`is_shortcut_label`.
A new family that puts its skip-connection layers in a module called ``shortcut`` needs nothing
more; one that does not must change these two functions, and nothing else.
"""

from __future__ import annotations

SHORTCUT_MODULE = "shortcut"
SHORTCUT_LABEL = "proj"


def on_shortcut(qualified_name: str) -> bool:
    """Whether the module named ``qualified_name`` (as ``named_modules`` gives it) is on a shortcut."""
    return SHORTCUT_MODULE in qualified_name.split(".")


def is_shortcut_label(label: str) -> bool:
    """Whether a diagnostics layer label (``conv3``, ``proj1``, ``fc``) names a shortcut layer."""
    return label.startswith(SHORTCUT_LABEL)
