"""Model registry: names -> builder functions, and models from the user's own code.

A second registration under the same name is an error (as in torchvision's ``_api.py``), so a
typo'd copy of a builder can never silently replace the original; a notebook re-running its cell
passes ``overwrite=True``. A name of the form ``pkg.module:factory`` or ``path/to/file.py:factory``
is the user's own model: the factory is imported on first use and called like a builder (with the
options it takes), so every command accepts it where it accepts a registered name. ``timm:<name>``
is timm's model of that name (the optional extra ``resnet-lab[timm]``), built without pretrained
weights through ``timm.create_model``.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import nn

from .errors import UserError

Builder = Callable[..., nn.Module]

_MODELS: dict[str, Builder] = {}
# name -> (base name, options fixed by the name): a variant is its base with those options set.
_VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {}


def register_model(name: str, *, overwrite: bool = False) -> Callable[[Builder], Builder]:
    """Decorator: register ``fn`` under ``name``; raises if the name is taken (unless ``overwrite``,
    for a notebook cell run twice)."""
    if ":" in name:
        raise ValueError(
            f"model name {name!r} contains ':', which marks an external factory; choose another"
        )

    def wrap(fn: Builder) -> Builder:
        if name in _MODELS and not overwrite:
            raise ValueError(
                f"model {name!r} is already registered (by {_MODELS[name].__module__})"
            )
        _MODELS[name] = fn
        return fn

    return wrap


def unregister_model(name: str) -> None:
    """Remove ``name`` (the Python API's scoped registration of a caller's factories)."""
    _MODELS.pop(name, None)
    _VARIANTS.pop(name, None)


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

    variant.__signature__ = sig.replace(
        parameters=[p for n, p in sig.parameters.items() if n not in fixed]
    )
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
    full = {
        p.name: p.default
        for p in sig.parameters.values()
        if p.kind in _OPTION_KINDS and p.default is not inspect.Parameter.empty
    }
    full.update(options)
    full.update(fixed)
    return {"family": base, "options": full}


def _ensure_loaded() -> None:
    # Importing the model modules runs the @register_model decorators. Done lazily so that
    # importing resnet_lab.registry alone has no side effects.
    from .models import load_families

    load_families()


def check_model_names(names: tuple[str, ...]) -> None:
    """At least one model, each registered (an external ``module:factory`` is checked on import)."""
    if not names:
        raise UserError(
            "no models selected; pass --models with one or more of: " + ", ".join(list_models())
        )
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise UserError(f"--models lists {', '.join(dupes)} twice; list each model once")
    for name in names:
        if not is_external(name) and name not in list_models():
            raise UserError(
                f"unknown model {name!r}; choose from: {', '.join(list_models())}, or give your own "
                "as pkg.module:factory or path/to/file.py:factory"
            )


def list_models() -> list[str]:
    _ensure_loaded()
    return sorted(_MODELS)


_OPTION_KINDS = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def model_options(name: str) -> list[str]:
    """The options the builder of ``name`` accepts by keyword (keyword-only or ordinary parameters).

    A factory that takes ``**kwargs`` (torchvision's and timm's builders) also gets
    ``num_classes``: every classification builder passes it on to its model, while any other
    option (``in_channels``, ``input_size``, a width) would be refused by the model it builds."""
    params = inspect.signature(get_builder(name)).parameters.values()
    names = [p.name for p in params if p.kind in _OPTION_KINDS]
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params) and "num_classes" not in names:
        names.append("num_classes")
    return names


def is_external(name: str) -> bool:
    return ":" in name


def run_name(name: str) -> str:
    """A file-name-safe name for a model's run directory: registered names as they are,
    ``nets/mynet.py:make`` -> ``mynet.make``."""
    if not is_external(name):
        return name
    target, _, attr = name.rpartition(":")
    stem = Path(target).stem if target.endswith(".py") else target.rsplit(".", 1)[-1]
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in f"{stem}.{attr}")


_EXTERNAL: dict[str, Builder] = {}


def last_line(exc: BaseException) -> str:
    """``Type: last line of the message``: what a one-line error quotes of an exception in user code."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[-1] if text else ''}"


TIMM = "timm"  # ``timm:<name>``: the prefix of timm's models


def _timm_builder(name: str, model: str) -> Builder:
    """A builder of timm's ``model``, taking the options resnet-lab passes every model it can.

    ``in_channels`` becomes timm's ``in_chans``; ``pretrained=False`` always, so nothing is
    downloaded and a checkpoint (which records ``timm:<name>`` and these options) rebuilds the same
    network. ``input_size`` is not taken: timm's CNNs pool to any size, and a model built for one
    size (a ViT) fails the first forward check with one line naming it."""
    try:
        import timm
    except ImportError:
        raise UserError(
            f"model {name!r} needs timm, which is not installed; pip install 'resnet-lab[timm]'"
        ) from None
    if not timm.is_model(model):
        raise UserError(
            f"timm has no model {model!r}; list its names with timm.list_models('{model[:6]}*')"
        )

    def build(*, num_classes: int = 1000, in_channels: int = 3) -> nn.Module:
        return timm.create_model(
            model, pretrained=False, num_classes=num_classes, in_chans=in_channels
        )

    build.__qualname__ = build.__name__ = f"timm_{model}"
    return build


def _load_external(name: str) -> Builder:
    """Import the factory of ``module:attr`` or ``file.py:attr`` (once per process)."""
    if name in _EXTERNAL:
        return _EXTERNAL[name]
    target, _, attr = name.rpartition(":")
    if target == TIMM:
        _EXTERNAL[name] = _timm_builder(name, attr)
        return _EXTERNAL[name]
    if not target or not attr.isidentifier():
        raise UserError(
            f"model {name!r}: write an external model as pkg.module:factory or path/to/file.py:factory"
        )
    if target.endswith(".py") or "/" in target:
        path = Path(target)
        if not path.is_file():
            raise UserError(
                f"model {name!r}: the file {path} does not exist; put it back there, or name an "
                f"existing .py file that defines {attr}"
            )
        key = "resnet_lab_external_" + hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
        spec = importlib.util.spec_from_file_location(key, path)
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # noqa: BLE001 - the user's code: any error becomes one line naming it
            raise UserError(
                f"model {name!r}: importing {path} failed ({last_line(exc)}); fix that file"
            ) from None
    else:
        try:
            module = importlib.import_module(target)
        except Exception as exc:  # noqa: BLE001 - the user's module: any import error becomes one line
            raise UserError(
                f"model {name!r}: cannot import {target} ({last_line(exc)}); check the module path "
                "and that it is importable from here"
            ) from None
    factory = getattr(module, attr, None)
    if factory is None:
        raise UserError(
            f"model {name!r}: {target} defines no {attr!r}; name a function that returns an nn.Module"
        )
    if not callable(factory):
        raise UserError(
            f"model {name!r}: {attr} is a {type(factory).__name__}, not a callable; name a function "
            "that returns an nn.Module"
        )
    _EXTERNAL[name] = factory
    return factory


def get_builder(name: str) -> Builder:
    if is_external(name):
        return _load_external(name)
    _ensure_loaded()
    try:
        return _MODELS[name]
    except KeyError:
        raise UserError(
            f"unknown model {name!r}; choose one of: {', '.join(sorted(_MODELS))}, or give your own as "
            "pkg.module:factory or path/to/file.py:factory"
        ) from None


def _is_size_error(exc: BaseException) -> bool:
    """Whether building failed for the tensors' sizes (no memory, or a size that overflows)."""
    text = str(exc).lower()
    return isinstance(exc, (MemoryError, OverflowError)) or any(
        k in text for k in ("can't allocate memory", "overflow", "out of memory")
    )


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
        model = builder(**options)
    except ValueError as exc:  # builders validate their options with ValueError
        raise UserError(f"model {name!r}: {exc}") from None
    except (MemoryError, OverflowError, RuntimeError) as exc:
        # Sizes no machine holds (e.g. --width 1e9): the allocation fails before any estimate can.
        if not _is_size_error(exc):
            if not is_external(name):
                raise
            raise UserError(f"model {name!r}: the factory raised {last_line(exc)}") from None
        raise UserError(
            f"model {name!r} cannot be built with these options ({last_line(exc)[:160]}); lower "
            "`model.width_mult` or choose a smaller model"
        ) from None
    except Exception as exc:
        if not is_external(name):
            raise
        raise UserError(f"model {name!r}: the factory raised {last_line(exc)}") from None
    if not isinstance(model, nn.Module):
        raise UserError(
            f"model {name!r} returned a {type(model).__name__}, not a torch.nn.Module; return the network"
        )
    return model
