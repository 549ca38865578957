"""benchmarks/calibrate_prediction.py: issue 33's split into fit / held-out cells and the tables
docs/diagnostics.md shows, on constructed rows (the real calibration: tests/test_docs_numbers.py)."""

from __future__ import annotations

import dataclasses

import pytest

from resnet_lab.reporting.grid_conclusions import prediction_table


@pytest.fixture
def script(benchmark_script):
    return benchmark_script("calibrate_prediction")


def test_the_split_is_the_one_fixed_in_advance(script):
    part = script.part
    assert part({"model.depth": 8, "optim.name": "sgd"}) == "fit"
    assert part({"model.depth": 56, "optim.name": "sgd"}) == "fit"
    assert part({"model.depth": 32, "optim.name": "sgd"}) == "held-out"
    assert part({"model.depth": 20, "optim.name": "adam"}) == "held-out"
    assert part({"model.depth": 110, "optim.name": "sgd"}) == "other"
    assert part({"model.name": "deep_cnn"}) == "other"


def _row(run, depth, optim, predicted, outcome, rule=None):
    return {
        "run": run,
        "seed": 0,
        "settings": {"model.depth": depth, "optim.name": optim},
        "part": "held-out",
        "outcome": outcome,
        "predicted_init": predicted,
        "rule": rule,
        "reasons": [],
        "evidence": {
            "loss": 2.3026,
            "input_corr_last": 0.99951,
            "back_change": 2.5e-4,
            "largest_step": {"name": "fc", "step": 0.02, "normalised": False},
        },
    }


def test_the_markdown_counts_rates_and_lists_every_miss_with_its_evidence(script):
    m = script
    rows = [
        _row("a", 32, "sgd", "stays at ln C", "failed", "inputs merged"),
        _row("b", 32, "sgd", "trains", "learned"),
        _row("c", 32, "adam", "trains", "learned"),
        _row("d", 32, "sgd", "trains", "failed"),  # a miss: said it trains, it failed
    ]
    table = {
        k: dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v
        for k, v in prediction_table(rows).items()
    }
    text = m.markdown(
        {"split": {"held-out": "depth 32, and every Adam cell"}, "parts": {"held-out": table}}
    )
    lines = text.splitlines()
    summary = next(l for l in lines if l.startswith("| held-out |"))
    assert "| 4 |" in summary
    assert "stays at ln C: 1 failed; trains: 1 failed, 2 learned" in summary
    # sensitivity 1 of the 2 bad runs, specificity 2/2, hit rate 3/4 (exact intervals)
    assert "| 1/2 = 50 %" in summary and "| 2/2 = 100 %" in summary and "| 3/4 = 75 %" in summary
    misses = [l for l in lines if l.startswith("| depth 32")]
    assert len(misses) == 1
    assert misses[0].startswith("| depth 32, sgd, seed 0 | held-out | trains | failed | — |")
    assert "input corr. 0.9995" in misses[0] and "backward ×0.00025" in misses[0]
    assert "largest step 0.02× (fc)" in misses[0]
