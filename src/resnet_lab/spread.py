"""Spread over seeds, and the one rule every report uses to call two results different.

Two sets of runs (e.g. a model trained with seeds 0, 1, 2 and another) are called different only
when the difference of their means exceeds the sum of their standard deviations over seeds, i.e.
when the mean ± std intervals do not overlap. That is a deliberately conservative rule of thumb
stated in every report, not a significance test: with 3 seeds a standard deviation is itself
uncertain by about ±50 %, and no test at n = 3 is much better. With one seed on either side no
spread is measured, and nothing is called different or equal.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

RULE = (
    "a difference is called real only when it exceeds the two sides' seed standard deviations added "
    "(the mean ± std intervals do not overlap); otherwise 'not distinguishable'"
)


def mean_std(values: Sequence[float]) -> list[float | None] | None:
    """[mean, sample std] (std None for one value); None for no values."""
    if not values:
        return None
    return [statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None]


def overlap(a: Sequence[float | None] | None, b: Sequence[float | None] | None) -> bool | None:
    """Whether two ``[mean, std]`` summaries' mean ± std intervals overlap; None when either has no
    spread measured (one value, or none)."""
    if a is None or b is None or a[1] is None or b[1] is None:
        return None
    return abs(a[0] - b[0]) <= a[1] + b[1]


def separated(a: Sequence[float], b: Sequence[float]) -> bool | None:
    """True when ``a`` and ``b`` differ by the rule above, False when they do not, None when either side
    has a single value (no spread measured, so untested)."""
    both = overlap(mean_std(a), mean_std(b))
    return None if both is None else not both


def fmt(ms: Sequence[float | None] | None, digits: int = 2, unit: str = "") -> str:
    """``mean ± std`` (or the single value) with ``digits`` decimals."""
    if ms is None:
        return "n/a"
    mean, std = ms
    return f"{mean:.{digits}f}{unit}" + (f" ± {std:.{digits}f}{unit}" if std is not None else "")


MIN_SEEDS = 3  # fewer seeds measure no usable spread for a directional claim


def larger_by(
    a: Sequence[float | None] | None, b: Sequence[float | None] | None, n: int, sigmas: float
) -> bool | None:
    """Whether mean ``a`` exceeds mean ``b`` by more than ``sigmas`` times the larger of their seed
    standard deviations (a directional claim such as "the deeper net is worse"); None when fewer
    than ``MIN_SEEDS`` seeds (``n``) back either side."""
    if a is None or b is None or n < MIN_SEEDS or a[1] is None or b[1] is None:
        return None
    return a[0] - b[0] > sigmas * max(a[1], b[1])
