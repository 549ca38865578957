"""Files written whole or not at all, and JSON that is strict.

Torch-free, so that the reporting code can use it too. Every file a run or report writes whole
(checkpoints, run.json, config, results, reports, figures) goes through
:func:`atomic_write_bytes`: a temporary file, fsync, rename. A crash, a full disk or an interrupt
leaves the previous file (or none), never half of one, and no temporary file behind. The logs that
grow line by line (metrics.jsonl, diagnostics.jsonl, TensorBoard) are appended; a resume rewrites
them whole to what its checkpoint holds.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any


class _Sink:
    """A file handle that remembers the operating-system error of a failed write: torch.save's
    writer turns it into a RuntimeError ("unexpected pos ...") that no longer says the disk is full."""

    def __init__(self, fh):
        self.fh, self.error = fh, None

    def write(self, data) -> int:
        try:
            return self.fh.write(data)
        except OSError as exc:
            self.error = exc
            raise

    def flush(self) -> None:
        self.fh.flush()


def _naming(exc: OSError, path: Path) -> OSError:
    """``exc`` with ``path`` as its file name (a failed write or fsync names none), so that the
    one-line error says which file could not be written."""
    return exc if exc.filename else OSError(exc.errno, exc.strerror, str(path))


def atomic_write_bytes(path: Path, write) -> None:
    """Write via a temporary file + fsync + rename, so a crash never leaves half a file; on any
    failure (a full disk, an interrupt) the temporary file is removed and the old file stays. An
    operating-system failure is raised as an OSError naming ``path``, also when torch.save wrapped it."""
    tmp = path.with_name(f".{path.name}.tmp")
    sink = None
    try:
        with open(tmp, "wb") as fh:
            sink = _Sink(fh)
            write(sink)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        cause = exc if isinstance(exc, OSError) else getattr(sink, "error", None)
        if cause is None or not isinstance(exc, (OSError, RuntimeError)):
            raise
        raise _naming(cause, path) from None


def append_text(path: Path, text: str) -> None:
    """Append ``text`` to a log that grows line by line; a failure names ``path``."""
    try:
        with open(path, "a") as fh:
            fh.write(text)
    except OSError as exc:
        raise _naming(exc, path) from None


def write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, lambda fh: fh.write(text.encode()))


def strict_json(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by None and, for a dict, a ``"non_finite"``
    field naming where and what they were (``{"results.0.test_loss": "nan"}``): JSON has no NaN."""
    where: dict[str, str] = {}

    def clean(v: Any, at: str) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            where[at.lstrip(".")] = str(v)
            return None
        if isinstance(v, dict):
            return {k: clean(x, f"{at}.{k}") for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x, f"{at}.{i}") for i, x in enumerate(v)]
        return v

    out = clean(obj, "")
    if where and isinstance(out, dict):
        out["non_finite"] = {**out.get("non_finite", {}), **where}
    return out


def write_json(path: Path, obj: Any) -> None:
    text = json.dumps(strict_json(obj), indent=2, allow_nan=False) + "\n"
    atomic_write_bytes(path, lambda fh: fh.write(text.encode()))


def metric_line(record: dict[str, Any]) -> str:
    """One epoch's record as a strict JSON line (metrics.jsonl): a non-finite number is null."""
    clean = strict_json(record)
    clean.pop("non_finite", None)  # read_history restores NaN where a number is null
    return json.dumps(clean, allow_nan=False) + "\n"


def read_history(path: Path) -> list[dict[str, Any]]:
    """The per-epoch records of a metrics.jsonl, oldest first (none if it does not exist); a number
    written as null (non-finite when recorded) reads as NaN, so the records stay numeric."""
    if not path.is_file():
        return []

    def numeric(v: Any) -> Any:
        if isinstance(v, dict):
            return {
                k: (math.nan if x is None and k in _NUMERIC else numeric(x)) for k, x in v.items()
            }
        return v

    return [numeric(json.loads(line)) for line in path.read_text().splitlines() if line.strip()]


_NUMERIC = ("loss", "acc", "lr", "seconds")
