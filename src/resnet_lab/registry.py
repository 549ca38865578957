"""Model registry: names -> builder functions.

A second registration under the same name is an error (as in torchvision's ``_api.py``), so a
typo'd copy of a builder can never silently replace the original.
"""

from __future__ import annotations

import inspect
from typing import Callable

from torch import nn

from .errors import UserError

Builder = Callable[..., nn.Module]

_MODELS: dict[str, Builder] = {}


def register_model(name: str) -> Callable[[Builder], Builder]:
    """Decorator: register ``fn`` under ``name``; raises if the name is taken."""

    def wrap(fn: Builder) -> Builder:
        if name in _MODELS:
            raise ValueError(f"model {name!r} is already registered (by {_MODELS[name].__module__})")
        _MODELS[name] = fn
        return fn

    return wrap


def _ensure_loaded() -> None:
    # Importing the models package runs the @register_model decorators. Done lazily so that
    # importing resnet_lab.registry alone has no side effects.
    from . import models  # noqa: F401


def list_models() -> list[str]:
    _ensure_loaded()
    return sorted(_MODELS)


def model_options(name: str) -> list[str]:
    """The keyword options the builder of ``name`` accepts."""
    builder = get_builder(name)
    return [p.name for p in inspect.signature(builder).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY]


def get_builder(name: str) -> Builder:
    _ensure_loaded()
    try:
        return _MODELS[name]
    except KeyError:
        raise UserError(
            f"unknown model {name!r}; choose one of: {', '.join(sorted(_MODELS))}"
        ) from None


def create_model(name: str, **options) -> nn.Module:
    """Build registered model ``name`` (CPU, float32) with keyword ``options``."""
    builder = get_builder(name)
    allowed = model_options(name)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise UserError(
            f"model {name!r} has no option(s) {', '.join(unknown)}; it accepts: {', '.join(allowed)}"
        )
    try:
        return builder(**options)
    except ValueError as exc:  # builders validate their options with ValueError
        raise UserError(f"model {name!r}: {exc}") from None
