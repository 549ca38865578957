"""The statistics module against scipy's and textbook values, and each sentence it can say."""

from __future__ import annotations

import math

import pytest

from resnet_lab import inference as inf


def test_paired_interval_is_the_t_interval_of_the_per_seed_differences():
    # The degradation example of issue 32: paired gaps +7.6, +0.4, -2.9 points (n = 3, df = 2).
    a, b = [10.0, 20.0, 30.0], [17.6, 20.4, 27.1]
    d = inf.paired_difference(a, b)
    diffs = [7.6, 0.4, -2.9]
    mean = sum(diffs) / 3
    sd = math.sqrt(sum((x - mean) ** 2 for x in diffs) / 2)
    half = 4.302652729911275 * sd / math.sqrt(3)  # t(0.975, df=2), textbook table value 4.303
    assert d.estimate == pytest.approx(mean) and d.n == 3 and d.test == "paired t"
    assert d.low == pytest.approx(mean - half) and d.high == pytest.approx(mean + half)
    assert d.low == pytest.approx(-11.6, abs=0.1) and d.high == pytest.approx(15.0, abs=0.1)
    assert d.shown is False
    assert d.text() == (
        f"+1.70 points, 95 % CI {d.low:+.2f} to {d.high:+.2f}, paired t over 3 seeds, "
        f"p = {d.p:.2g}: not shown (the interval covers 0)"
    )


def test_a_clear_paired_difference_is_shown_and_two_seeds_give_no_interval():
    d = inf.paired_difference([10.0, 11.0, 12.0, 10.5], [20.0, 21.5, 22.0, 20.0])
    assert d.shown is True and d.low > 0 and "shown" in d.text() and d.p < 0.05
    two = inf.paired_difference([1.0, 2.0], [3.0, 5.0])
    assert two.shown is None and two.low is None and two.estimate == 2.5
    assert "too few seeds for an interval" in two.text()
    with pytest.raises(ValueError, match="same seeds"):
        inf.paired_difference([1.0, 2.0, 3.0], [1.0, 2.0])


def test_welch_interval_matches_scipy():
    from scipy import stats

    a, b = [61.2, 62.9, 61.6], [67.1, 68.5, 65.8, 66.9]
    d = inf.welch_difference(a, b)
    ref = stats.ttest_ind(b, a, equal_var=False).confidence_interval(0.95)
    assert (d.low, d.high) == pytest.approx((ref.low, ref.high))
    assert d.n == (3, 4) and "Welch t over 3 vs 4 seeds" in d.text()


def test_fisher_three_of_three_against_none_of_three_is_p_one_tenth():
    c = inf.fisher_counts(3, 3, 0, 3)
    assert c.p == pytest.approx(0.1)  # 2 / C(6, 3): the textbook value
    assert c.text() == "3/3 vs 0/3 learned, Fisher's exact test p = 0.1: not shown"
    assert inf.fisher_counts(10, 10, 0, 10).p < 0.05


def test_logrank_matches_scipy_and_censors_runs_that_never_left():
    from scipy import stats

    p = inf.logrank([1390, 1850, 2000], [], [], [2112, 2112, 2112])
    ref = stats.logrank(
        stats.CensoredData(uncensored=[1390, 1850, 2000]), stats.CensoredData(right=[2112] * 3)
    ).pvalue
    assert p == pytest.approx(ref) and p < 0.05


def test_no_worse_than_needs_a_margin_and_an_interval():
    # Issue 32's asymmetric case: resnet-56 20.00 +- 5.85 vs resnet-20 20.07 +- 1.21, a mean gap <= 0.
    d = inf.paired_difference([20.07, 19.0, 21.1], [20.0, 14.0, 26.0])
    assert d.estimate <= 0.1 and inf.no_worse_than(d, margin=1.0) is False  # the interval is wide
    tight = inf.paired_difference([20.0, 21.0, 22.0], [20.1, 21.0, 22.1])
    assert inf.no_worse_than(tight, margin=1.0) is True
    assert inf.no_worse_than(inf.paired_difference([1.0], [1.0]), margin=1.0) is None


def test_seed_difference_pairs_by_seed_when_both_sides_ran_the_same_seeds():
    a = {0: 10.0, 1: 12.0, 2: 11.0}
    b = {2: 14.5, 0: 13.0, 1: 16.0}  # another order: still paired by seed
    d = inf.seed_difference(a, b)
    assert d.test == "paired t" and d == inf.paired_difference(
        [10.0, 12.0, 11.0], [13.0, 16.0, 14.5]
    )
    other = inf.seed_difference(a, {3: 13.0, 4: 16.0, 5: 14.5})
    assert other.test == "Welch t" and other.n == (3, 3)
    assert inf.seed_difference({0: 1.0}, {0: 2.0}).shown is None  # one seed: no interval


def test_proportion_has_the_exact_clopper_pearson_interval():
    from resnet_lab.inference import proportion

    p = proportion(9, 10)
    assert p.rate == 0.9
    # Clopper-Pearson for 9/10 at 95 %: [0.5550, 0.9975] (the beta quantiles).
    assert p.low == pytest.approx(0.5550, abs=1e-4) and p.high == pytest.approx(0.99747, abs=1e-4)
    assert "9/10 = 90 %" in p.text() and "exact" in p.text()
    assert proportion(0, 0).text() == "no runs" and proportion(0, 0).rate is None
    assert proportion(0, 5).low == 0.0 and proportion(5, 5).high == 1.0
