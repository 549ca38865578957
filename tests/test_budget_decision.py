"""benchmarks/budget_decision.py: issue 34's stopping rule over a budget's per-seed sweeps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture
def decide(benchmark_script):
    return benchmark_script("budget_decision").decide


def _sweeps(tmp_path: Path, gaps: list[float], family: str = "resnet") -> list[Path]:
    """One sweep directory per seed, FAMILY-20 at 10 % clean training error, FAMILY-56 10 + gap."""
    dirs = []
    for seed, gap in enumerate(gaps):
        d = tmp_path / f"{family}-it8000-seed{seed}"
        d.mkdir()
        runs = [
            {"family": family, "depth": depth, "seed": seed, "final_train_clean_acc": 100 - err}
            for depth, err in ((20, 10.0), (56, 10.0 + gap))
        ]
        (d / "sweep.json").write_text(json.dumps({"runs": runs}))
        dirs.append(d)
    return dirs


@pytest.mark.parametrize(
    "gaps,verdict",
    [
        ([-1.0, -0.5, -1.5, -0.8, -1.2], "no worse, shown"),
        ([3.0, 4.0, 3.5, 2.5, 4.5], "worse, shown"),
        ([-6.0, 5.0, 1.0, -3.0, 4.0], "not decided"),
    ],
)
def test_the_paired_gap_over_per_seed_sweeps_decides(decide, tmp_path, gaps, verdict):
    result = decide(_sweeps(tmp_path, gaps))
    assert result["verdict"] == verdict
    assert result["seeds"] == list(range(len(gaps)))
    assert result["gap_per_seed"] == {s: g for s, g in enumerate(gaps)}


def test_a_stage_not_run_yet_leaves_its_seed_out(decide, tmp_path):
    dirs = _sweeps(tmp_path, [-1.0, -0.5, -1.5])
    result = decide([*dirs, tmp_path / "it8000-seed3"])
    assert result["seeds"] == [0, 1, 2]


def test_a_seed_given_twice_is_refused_with_its_own_exit_code(decide, tmp_path, capsys):
    dirs = _sweeps(tmp_path, [-1.0, -0.5])
    with pytest.raises(SystemExit) as refused:
        decide([*dirs, dirs[0]])
    assert refused.value.code == 2  # not 1, "not decided", on which the series goes on
    assert "in two of these sweeps" in capsys.readouterr().err


def test_the_plain_pair_adds_the_first_half_and_the_interaction_without_changing_the_verdict(
    decide,
    tmp_path,
):
    resnet = _sweeps(tmp_path, [-1.0, -0.5, -1.5, -0.8, -1.2])
    plain = _sweeps(tmp_path, [30.0, 35.0, 28.0, 33.0], family="plain")  # seed 4 not run yet
    alone = decide(resnet)
    result = decide([*resnet, *plain])
    assert "plain" not in alone and result["verdict"] == alone["verdict"] == "no worse, shown"
    assert result["plain"]["seeds"] == [0, 1, 2, 3]
    assert result["plain"]["degradation"] == "shown"
    inter = result["interaction"]
    # per seed (plain gap) - (resnet gap): 31, 35.5, 29.5, 33.8
    assert inter["gap"]["estimate"] == pytest.approx((31 + 35.5 + 29.5 + 33.8) / 4)
    assert inter["verdict"] == "larger without skips"


def test_an_interaction_within_the_spread_is_not_shown(decide, tmp_path):
    resnet = _sweeps(tmp_path, [1.0, -2.0, 3.0])
    plain = _sweeps(tmp_path, [2.0, -3.0, 4.5], family="plain")
    inter = decide([*resnet, *plain])["interaction"]
    assert inter["verdict"] == "a difference between the families is not shown"
