"""benchmarks/fc_init_pair.py: issue 34's classifier-init pair over its per-seed, per-arm sweeps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture
def fc_init_pair(benchmark_script):
    return benchmark_script("fc_init_pair")


def _stages(out: Path, fc: str, gaps: list[float]) -> None:
    """The fc-FC sweep: per seed resnet-20 at 20 % clean training error, resnet-56 at 20 + gap."""
    d = out / f"fc-{fc}"
    d.mkdir(parents=True)
    runs = [
        {"family": "resnet", "depth": depth, "seed": seed, "final_train_clean_acc": 100 - err}
        for seed, gap in enumerate(gaps)
        for depth, err in ((20, 20.0), (56, 20.0 + gap))
    ]
    (d / "sweep.json").write_text(json.dumps({"runs": runs}))


def test_a_gap_the_classifier_init_removes_is_shown_as_its_effect(tmp_path, fc_init_pair):
    _stages(tmp_path, "as_init", [8.0, 7.0, 9.0])
    _stages(tmp_path, "default", [1.0, 0.5, 1.5])
    result = fc_init_pair.pair(tmp_path)
    assert result["arms"]["as_init"]["verdict"] == "worse, shown"
    effect = result["effect"]
    assert effect["per_seed"] == {0: -7.0, 1: -6.5, 2: -7.5}
    assert effect["gap"]["estimate"] == pytest.approx(-7.0)
    assert effect["verdict"] == "the classifier init changes the gap"
    table = fc_init_pair.markdown(result)
    assert "| PyTorch's − He's | -7.00 / -6.50 / -7.50 |" in table


def test_an_arm_with_a_seed_missing_leaves_that_seed_out_of_the_effect(tmp_path, fc_init_pair):
    _stages(tmp_path, "as_init", [8.0, -7.0, 9.0])
    _stages(tmp_path, "default", [1.0, 0.5])  # seed 2 not finished yet
    effect = fc_init_pair.pair(tmp_path)["effect"]
    assert effect["seeds"] == [0, 1]
    assert effect["verdict"] == "a change of the gap by the classifier init is not shown"
    assert effect["gap"]["low"] is None  # two seeds: no interval claimed
