"""Statistics across seeds, on scipy.stats: one function per kind of claim, each returning its
estimate, interval, n and test, and a sentence that says all four.

- :func:`paired_difference`: the same seeds on both sides (resnet-lab's design: a seed fixes the
  data order, and in a controlled pair the initial weights), the per-seed differences with a
  t-based confidence interval (``scipy.stats.ttest_rel``).
- :func:`welch_difference`: runs that are not paired, Welch's t interval (``ttest_ind``,
  unequal variances).
- :func:`fisher_counts`: how many runs learned on each side, Fisher's exact test (two-sided).
- :func:`logrank`: censored times (the escape step: a run that never left ln C is censored at its
  last step), the log-rank test (``scipy.stats.logrank``).
- :func:`proportion`: a rate (a hit rate, a sensitivity) with its exact Clopper-Pearson interval
  (``scipy.stats.binomtest``).
- :func:`no_worse_than`: "B is no worse than A" only against a margin fixed in advance
  (non-inferiority: the interval's upper end below the margin), never from a mean difference <= 0.

Below 3 values per side no interval is claimed: the sentence says so instead. Torch-free.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

LEVEL = 0.95  # every interval's confidence level
MIN_N = 3  # fewest values per side for an interval (at n = 2 a t interval spans +-12.7 sd)


@dataclass(frozen=True)
class Difference:
    """``estimate`` (mean of B - A) with its ``LEVEL`` interval (None below ``MIN_N``), n per side,
    the test's name and its two-sided p-value."""

    estimate: float
    low: float | None
    high: float | None
    n: int | tuple[int, int]
    test: str
    p: float | None

    @property
    def shown(self) -> bool | None:
        """True when the interval excludes 0, False when it covers 0, None when there is none."""
        if self.low is None or self.high is None:
            return None
        return self.low > 0 or self.high < 0

    def text(self, unit: str = " points") -> str:
        """E.g. ``+1.7 points, 95 % CI -11.6 to +15.0, paired over 3 seeds: not shown``."""
        head = f"{self.estimate:+.2f}{unit}"
        over = _over(self.n, self.test)
        if self.shown is None:
            return f"{head}, {over}: too few seeds for an interval (at least {MIN_N} per side)"
        verdict = "shown" if self.shown else "not shown (the interval covers 0)"
        ci = f"{LEVEL:.0%} CI {self.low:+.2f} to {self.high:+.2f}".replace("%", " %")
        return f"{head}, {ci}, {over}, p = {self.p:.2g}: {verdict}"


def _over(n: int | tuple[int, int], test: str) -> str:
    if isinstance(n, tuple):
        return f"{test} over {n[0]} vs {n[1]} seeds"
    return f"{test} over {n} seed{'s' * (n != 1)}"


def paired_difference(a: Sequence[float], b: Sequence[float]) -> Difference:
    """B - A over seeds paired by position (``a[i]`` and ``b[i]`` share a seed)."""
    from scipy import stats

    if len(a) != len(b):
        raise ValueError(
            f"paired values need the same seeds on both sides, got {len(a)} and {len(b)}"
        )
    diffs = [y - x for x, y in zip(a, b)]
    estimate = math.fsum(diffs) / len(diffs)
    if len(diffs) < MIN_N:
        return Difference(estimate, None, None, len(diffs), "paired", None)
    if all(d == diffs[0] for d in diffs):  # no spread: t is undefined, the interval is the point
        return Difference(
            estimate, estimate, estimate, len(diffs), "paired", 0.0 if estimate else 1.0
        )
    res = stats.ttest_rel(b, a)
    ci = res.confidence_interval(LEVEL)
    return Difference(
        estimate, float(ci.low), float(ci.high), len(diffs), "paired t", float(res.pvalue)
    )


def welch_difference(a: Sequence[float], b: Sequence[float]) -> Difference:
    """mean(B) - mean(A) for unpaired runs (Welch's t interval)."""
    from scipy import stats

    estimate = math.fsum(b) / len(b) - math.fsum(a) / len(a)
    n = (len(a), len(b))
    if min(n) < MIN_N:
        return Difference(estimate, None, None, n, "Welch", None)
    res = stats.ttest_ind(b, a, equal_var=False)
    ci = res.confidence_interval(LEVEL)
    return Difference(estimate, float(ci.low), float(ci.high), n, "Welch t", float(res.pvalue))


def seed_difference(a: Mapping[int, float], b: Mapping[int, float]) -> Difference:
    """B - A from each side's values by seed: paired when both sides ran the same seeds (the same
    seed gives both the same data order), Welch's otherwise. The one rule every sentence comparing
    two sets of runs uses: called shown only when the 95 % interval excludes 0."""
    if set(a) == set(b):
        seeds = sorted(a)
        return paired_difference([a[s] for s in seeds], [b[s] for s in seeds])
    return welch_difference(list(a.values()), list(b.values()))


# How the sentences judge a difference (stated in every report that uses seed_difference).
RULE = (
    f"a difference is called shown only when its {LEVEL:.0%} t interval (paired over seeds where "
    f"both sides ran the same seeds, Welch's otherwise) excludes 0; with fewer than {MIN_N} seeds "
    "per side no interval is claimed and nothing is called different or equal"
).replace("%", " %")


@dataclass(frozen=True)
class Counts:
    """How many runs learned on each side, and Fisher's exact two-sided p-value."""

    learned: tuple[int, int]
    runs: tuple[int, int]
    p: float

    @property
    def shown(self) -> bool:
        """True when the two-sided p-value is below 1 - LEVEL."""
        return self.p < 1 - LEVEL

    def text(self, what: str = "learned") -> str:
        (la, lb), (na, nb) = self.learned, self.runs
        verdict = "shown" if self.shown else "not shown"
        return f"{la}/{na} vs {lb}/{nb} {what}, Fisher's exact test p = {self.p:.2g}: {verdict}"


def fisher_counts(learned_a: int, runs_a: int, learned_b: int, runs_b: int) -> Counts:
    from scipy import stats

    table = [[learned_a, runs_a - learned_a], [learned_b, runs_b - learned_b]]
    p = float(stats.fisher_exact(table, alternative="two-sided").pvalue)
    return Counts((learned_a, learned_b), (runs_a, runs_b), p)


def logrank(
    left_a: Sequence[float],
    censored_a: Sequence[float],
    left_b: Sequence[float],
    censored_b: Sequence[float],
) -> float:
    """Two-sided p-value of the log-rank test between two sets of censored times: per side, the
    steps at which runs left ln C, and the last steps of the runs that were still there; NaN where
    the test is undefined."""
    import numpy
    from scipy import stats

    a = stats.CensoredData(uncensored=list(left_a), right=list(censored_a))
    b = stats.CensoredData(uncensored=list(left_b), right=list(censored_b))
    # NaN, without numpy's warning, where the statistic is 0 / 0 (every run at risk left at each
    # event): the caller says so in words.
    with numpy.errstate(invalid="ignore", divide="ignore"):
        return float(stats.logrank(a, b).pvalue)


def no_worse_than(diff: Difference, margin: float) -> bool | None:
    """Is B no worse than A, where larger is worse (e.g. an error rate): the interval's upper end
    below ``margin``, fixed before looking at the runs. None: no interval (too few seeds)."""
    if diff.high is None:
        return None
    return diff.high < margin


@dataclass(frozen=True)
class Proportion:
    """``hits`` of ``n``, with the exact (Clopper-Pearson) ``LEVEL`` interval of the rate."""

    hits: int
    n: int
    low: float | None
    high: float | None

    @property
    def rate(self) -> float | None:
        return self.hits / self.n if self.n else None

    def text(self) -> str:
        if not self.n:
            return "no runs"
        return (
            f"{self.hits}/{self.n} = {self.rate:.0%} ({LEVEL:.0%} CI {self.low:.0%}-{self.high:.0%}, "
            "exact)"
        ).replace("%", " %")


def proportion(hits: int, n: int) -> Proportion:
    """A rate with its exact binomial interval (none for n = 0)."""
    if n == 0:
        return Proportion(0, 0, None, None)
    from scipy import stats

    ci = stats.binomtest(hits, n).proportion_ci(confidence_level=LEVEL, method="exact")
    return Proportion(hits, n, float(ci.low), float(ci.high))
