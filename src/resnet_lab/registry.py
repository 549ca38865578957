"""Model registry: names -> builder functions.

A second registration under the same name is an error (as in torchvision's ``_api.py``), so a
typo'd copy of a builder can never silently replace the original.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from torch import nn

from .errors import UserError

Builder = Callable[..., nn.Module]

_MODELS: dict[str, Builder] = {}
# name -> (base name, options fixed by the name): a variant is its base with those options set.
_VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {}


def register_model(name: str) -> Callable[[Builder], Builder]:
    """Decorator: register ``fn`` under ``name``; raises if the name is taken."""

    def wrap(fn: Builder) -> Builder:
        if name in _MODELS:
            raise ValueError(f"model {name!r} is already registered (by {_MODELS[name].__module__})")
        _MODELS[name] = fn
        return fn

    return wrap


def register_variant(name: str, base: Builder, **fixed: Any) -> Builder:
    """Register ``name`` as ``base`` with ``fixed`` options: e.g. ``resnet_seed_plain`` is
    ``resnet_seed(skip=False)``. The variant does not accept the fixed options, so its name always
    means what it says; :func:`architecture` knows it is its base with those options, which lets
    a report compare it with its base in exactly those options and nothing else."""
    base_name = next(n for n, fn in _MODELS.items() if fn is base)
    sig = inspect.signature(base)
    unknown = set(fixed) - set(sig.parameters)
    if unknown:
        raise ValueError(f"{base_name} has no option(s) {sorted(unknown)}")

    @functools.wraps(base)
    def variant(**options: Any) -> nn.Module:
        return base(**options, **fixed)

    variant.__signature__ = sig.replace(parameters=[p for n, p in sig.parameters.items() if n not in fixed])
    variant.__doc__ = f"``{base_name}`` with {', '.join(f'{k}={v!r}' for k, v in fixed.items())} (fixed by the name)."
    register_model(name)(variant)
    _VARIANTS[name] = (base_name, dict(fixed))
    return variant


def architecture(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """What a model built as ``name(**options)`` is: ``{"family": base builder, "options": every
    keyword option with its value (defaults filled in)}``. Two runs are the same network up to the
    options in which these differ; variants resolve to their base."""
    _ensure_loaded()
    base, fixed = _VARIANTS.get(name, (name, {}))
    sig = inspect.signature(get_builder(base))
    full = {p.name: p.default for p in sig.parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is not inspect.Parameter.empty}
    full.update(options)
    full.update(fixed)
    return {"family": base, "options": full}


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
