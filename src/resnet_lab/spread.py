"""Spread over seeds as reports print it: ``mean ± std`` (the sample standard deviation).

Whether two sets of runs differ is not judged here: that is ``inference.py`` (intervals and tests
on scipy.stats), whose rule every sentence comparing runs states.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def mean_std(values: Sequence[float]) -> list[float | None] | None:
    """[mean, sample std] (std None for one value); None for no values."""
    if not values:
        return None
    return [statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None]


def fmt(ms: Sequence[float | None] | None, digits: int = 2, unit: str = "") -> str:
    """``mean ± std`` (or the single value) with ``digits`` decimals."""
    if ms is None:
        return "n/a"
    mean, std = ms
    return f"{mean:.{digits}f}{unit}" + (f" ± {std:.{digits}f}{unit}" if std is not None else "")
