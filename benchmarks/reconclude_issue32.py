"""Re-judge under issue 32's rules (resnet_lab.inference) the studies the docs quote whose run
directories are not in the repository, from the per-seed gaps docs/degradation.md reports for them:
the paired t interval over those gaps, as the reports now compute it. A study run again with its
runs kept in the repository (docs/measurements/summaries/) leaves this file, because its own report
states the intervals (seed-controls, degradation-cpu and the quick compares, 2026-12-07); left:
degradation-cpu-residual, measured again by benchmarks/fc_init_queue.sh's `fc-as_init` arm.

    python benchmarks/reconclude_issue32.py > docs/results/reconclusions-issue32.json
"""

from __future__ import annotations

import json

from resnet_lab.inference import no_worse_than, paired_difference
from resnet_lab.reporting.conclusions import NO_WORSE_MARGIN


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
        "rule": "inference.paired_difference; 95 % intervals",
        "no_worse_margin_points": NO_WORSE_MARGIN,
        # docs/degradation.md, per-seed gaps resnet-56 - resnet-20 (seeds 0, 1, 2) of the AMD runs
        # (degradation-cpu itself was measured again and kept: its report states its intervals).
        "degradation-cpu-residual resnet-56 - resnet-20 (4,000 it.)": paired([7.6, 0.4, -2.9]),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
