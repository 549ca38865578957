"""Model families, one module each (the shared settings in settings.py). :func:`load_families`
imports every module here, which runs their ``@register_model`` decorators (see ``registry.py``,
which calls it before the first lookup): a new family is one new file here. Importing the package
alone imports nothing else, so that config.py can read models/settings.py without torch."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

__all__ = ["ConvNet", "ConvUnit", "ResidualBlock", "init_weights", "load_families"]


def load_families() -> None:
    """Import every module of this package (registering its models); a no-op after the first call."""
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")


def __getattr__(name: str) -> Any:
    if name in __all__:  # the shared building blocks, from layers.py
        return getattr(importlib.import_module(f"{__name__}.layers"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
