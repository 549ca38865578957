"""benchmarks/budget_series.py: issue 34's budget series table and figure from the decision files."""

from __future__ import annotations

import json

import pytest

from test_budget_decision import _sweeps


def test_the_table_has_one_row_per_budget_and_the_final_plain_pair(benchmark_script, tmp_path):
    decide = benchmark_script("budget_decision").decide
    series = benchmark_script("budget_series")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    eight = decide(_sweeps(tmp_path / "a", [-6.0, 5.0, 1.0, -3.0, 4.0]))
    sixteen = decide(
        [
            *_sweeps(tmp_path / "b", [-1.0, -0.5, -1.5, -0.8, -1.2]),
            *_sweeps(tmp_path / "b", [30.0, 35.0, 28.0, 33.0, 31.0], family="plain"),
        ]
    )
    files = [tmp_path / "it16000-final.json", tmp_path / "it8000-decision.json"]
    for f, d in zip(files, (sixteen, eight)):
        f.write_text(json.dumps(d))
    loaded = series.load(files)
    assert list(loaded) == [8000, 16000]
    table = series.markdown(loaded)
    rows = [line for line in table.splitlines() if line.startswith("| ")][1:]
    assert rows[0].startswith("| 8,000 | 0, 1, 2, 3, 4 | -6.00 / +5.00 / +1.00 / -3.00 / +4.00 |")
    assert rows[0].endswith("| not decided |") and rows[1].endswith("| no worse, shown |")
    assert "degradation shown" in table and "larger without skips" in table
    png = tmp_path / "series.png"
    series.figure(loaded, png, 2.0)
    assert png.stat().st_size > 10_000
    import matplotlib.image

    alone = tmp_path / "alone.png"  # without a plain pair: the residual panel only
    series.figure({8000: eight}, alone, 2.0)
    wide, narrow = (matplotlib.image.imread(f).shape[1] for f in (png, alone))
    assert wide > 1.5 * narrow  # the plain pair's panel beside the residual one


def test_a_file_that_is_not_a_decision_is_refused(benchmark_script, tmp_path):
    other = tmp_path / "grid.json"
    other.write_text("{}")
    with pytest.raises(SystemExit, match="not a budget decision file"):
        benchmark_script("budget_series").load([other])
