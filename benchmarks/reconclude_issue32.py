"""Re-judge the studies docs/results.md quotes under issue 32's rules (resnet_lab.inference), from the
numbers docs/results.md and docs/degradation.md report for them: the run directories themselves are not
in the repository, so where only mean ± std (n = 3) was kept the difference is Welch's interval
from those (scipy.stats.ttest_ind_from_stats), and where the per-seed gaps were kept it is the
paired t interval over them, as the reports now compute it. A study run again with its runs kept
in the repository (docs/measurements/summaries/) leaves this file: its own report states the
intervals (seed-controls and degradation-cpu, 2026-12-07).

    python benchmarks/reconclude_issue32.py > docs/results/reconclusions-issue32.json
"""

from __future__ import annotations

import json
import math

from scipy import stats

from resnet_lab.inference import LEVEL, fisher_counts, no_worse_than, paired_difference
from resnet_lab.reporting.conclusions import NO_WORSE_MARGIN


def welch(a: tuple[float, float], b: tuple[float, float], n: int = 3) -> dict:
    """mean(B) - mean(A) with Welch's 95 % interval, from mean ± sample std of n runs each."""
    (ma, sa), (mb, sb) = a, b
    res = stats.ttest_ind_from_stats(mb, sb, n, ma, sa, n, equal_var=False)
    va, vb = sa**2 / n, sb**2 / n
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (n - 1) + vb**2 / (n - 1))
    q = stats.t.ppf(0.5 + LEVEL / 2, df)
    d = mb - ma
    return {
        "estimate": round(d, 2),
        "ci": [round(float(d - q * se), 2), round(float(d + q * se), 2)],
        "n": [n, n],
        "test": "Welch t from mean ± std",
        "p": float(f"{res.pvalue:.2g}"),
        "shown": bool(d - q * se > 0 or d + q * se < 0),
    }


def paired(gaps: list[float]) -> dict:
    d = paired_difference([0.0] * len(gaps), gaps)
    return {
        "estimate": round(d.estimate, 2),
        "ci": [round(d.low, 2), round(d.high, 2)],
        "n": d.n,
        "test": "paired t over the per-seed gaps",
        "p": float(f"{d.p:.2g}"),
        "shown": d.shown,
        "no_worse_than_margin": no_worse_than(d, NO_WORSE_MARGIN),
    }


def main() -> None:
    out = {
        "rule": "inference.seed_difference / fisher_counts; 95 % intervals",
        "no_worse_margin_points": NO_WORSE_MARGIN,
        # docs/degradation.md, per-seed gaps resnet-56 - resnet-20 (seeds 0, 1, 2) of the AMD runs
        # (degradation-cpu itself was measured again and kept: its report states its intervals).
        "degradation-cpu-residual resnet-56 - resnet-20 (4,000 it.)": paired([7.6, 0.4, -2.9]),
        # docs/results.md, SGD quick compare with 3 seeds, test accuracy: the seed's ordering, step by step.
        "quick-sgd resnet_seed - simple_cnn (test acc)": welch((64.09, 0.38), (69.01, 1.54)),
        "quick-sgd simple_cnn - deep_cnn (test acc)": welch((10.00, 0.00), (64.09, 0.38)),
        # Learned counts: the skips pair of the quick compare and of seed-controls (3/3 vs 0/3).
        "resnet_seed vs resnet_seed_plain learned (3/3 vs 0/3)": {
            "p": fisher_counts(3, 3, 0, 3).p,
            "text": fisher_counts(3, 3, 0, 3).text(),
        },
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
