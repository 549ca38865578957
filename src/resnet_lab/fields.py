"""How a setting is declared (:func:`setting`: its default, help and flags, from which the command
line is generated) and the two checks every config section uses. Torch-free and import-free, so that
each section's module (data/settings.py, models/settings.py, train_settings.py) and config.py can
use it without importing each other."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import field
from typing import Any

from .errors import UserError, shown


def setting(
    default: Any,
    help: str,
    *,
    flag: str | None = None,
    metavar: str | None = None,
    switch: tuple[str, Any, str] | None = None,
    what: str | None = None,
) -> Any:
    """A config field with the documentation the command line shows (``--help``) and its flags.
    ``switch``: (flag, the value it sets, its help); ``what``: the setting's name in messages."""
    meta = {"help": help, "flag": flag, "metavar": metavar, "switch": switch, "what": what}
    return field(default=default, metadata=meta)


def one_of(what: str, value: Any, choices: Sequence[Any], origin: str = "") -> None:
    """A UserError naming the choices unless ``value`` is one of them (shared by the section checks
    and config's coercion of a Literal setting; ``origin``: where the value came from)."""
    if value not in choices:
        where = f"{origin}: " if origin else ""
        raise UserError(
            f"{where}unknown {what} {shown(value)}; choose one of: {', '.join(map(str, choices))}"
        )


def positive(key: str, value: float) -> None:
    """A UserError unless ``value`` is a finite number > 0 (shared by the section checks)."""
    if not (value > 0 and math.isfinite(value)):
        raise UserError(f"{key} must be a positive number, got {value}; pass a value > 0")
