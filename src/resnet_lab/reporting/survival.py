"""The time to leave ln C across runs: per group, which runs left and when, and the fraction still
on the plateau against steps (a Kaplan-Meier curve: a run that never left is censored at its last
step, not counted as leaving there). scipy.stats.ecdf computes the estimate.

Rows are results rows (``escape_step``, ``steps``; escape.py); a row without ``escape_step`` was
written before resnet-lab recorded it, or its run was shorter than one window of the rule, and is
left out, not taken as censored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Escapes:
    """The escape steps of one group of runs (e.g. a grid cell over its seeds)."""

    label: str
    left: tuple[int, ...]  # escape steps of the runs that left ln C
    censored: tuple[int, ...]  # last steps of the runs that did not

    @property
    def n(self) -> int:
        return len(self.left) + len(self.censored)

    def curve(self) -> tuple[list[float], list[float]]:
        """(steps, fraction still on the plateau just after each step), starting at (0, 1)."""
        from scipy import stats

        if not self.n:
            return [], []
        data = stats.CensoredData(uncensored=list(self.left), right=list(self.censored))
        sf = stats.ecdf(data).sf
        return [0.0, *map(float, sf.quantiles)], [1.0, *map(float, sf.probabilities)]

    def median(self) -> int | None:
        """The Kaplan-Meier median escape step: the first step at which at most half the runs are
        still on the plateau; None when more than half are censored before that (not reached)."""
        steps, alive = self.curve()
        return next((int(s) for s, a in zip(steps, alive) if a <= 0.5), None)

    def text(self) -> str:
        """E.g. ``2/3 left: median 1,230 (1,100-1,410); 1 not left by step 2,112``."""
        if not self.n:
            return "not recorded"
        out = f"{len(self.left)}/{self.n} left"
        if self.left:
            lo, hi = min(self.left), max(self.left)
            median = self.median()
            out += ": " + (f"median {median:,}" if median is not None else "median not reached")
            out += f" ({lo:,})" if lo == hi else f" ({lo:,}–{hi:,})"
        if self.censored:
            at = sorted(set(self.censored))
            out += f"; {len(self.censored)} not left by step " + ", ".join(f"{s:,}" for s in at)
        return out


def escapes(label: str, rows: Sequence[dict[str, Any]]) -> Escapes:
    """The group of ``rows`` that recorded an escape step (or its censoring)."""
    known = [r for r in rows if "escape_step" in r and r.get("steps") is not None]
    return Escapes(
        label,
        tuple(int(r["escape_step"]) for r in known if r["escape_step"] is not None),
        tuple(int(r["steps"]) for r in known if r["escape_step"] is None),
    )
