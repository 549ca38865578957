"""The escape from ln C: the rule on constructed loss curves, the recording callback, the survival
summaries and sentences built on it, and the seed-escape study's design."""

from __future__ import annotations

import json
import math

import pytest
import torch

from resnet_lab.config import ESCAPE_CELL_KEYS, ESCAPE_CELLS, escape_axis, resolve
from resnet_lab.escape import ESCAPE_WINDOW, TRACE_KEY, escape_step, running_means
from resnet_lab.reporting.grid_conclusions import escape_sentences
from resnet_lab.reporting.survival import Escapes, escapes
from resnet_lab.train import LossTrace, TrainState

LN10 = math.log(10)


def trace(losses: list[float], every: int = 10) -> list[list[float]]:
    """[step, loss] pairs, one every ``every`` steps starting at step ``every``."""
    return [[every * (i + 1), v] for i, v in enumerate(losses)]


def test_a_run_that_never_leaves_is_censored():
    # Plateau noise of +-0.01 around ln 10, far inside the 0.05 band.
    flat = [LN10 + 0.01 * (-1) ** i for i in range(200)]
    assert escape_step(trace(flat), 10) is None


def test_a_run_that_leaves_at_step_s_escapes_at_s():
    # ln 10 up to step 1,000, then 1.5: the first 100-step window holding a 1.5 (step 1,010) is
    # already below ln 10 - 0.05, and every later one stays below.
    losses = [LN10] * 100 + [1.5] * 100
    assert escape_step(trace(losses), 10) == 1010


def test_a_brief_dip_that_comes_back_is_not_an_escape():
    losses = [LN10] * 50 + [1.5] * 5 + [LN10] * 100
    assert escape_step(trace(losses), 10) is None


def test_a_dip_then_a_real_escape_counts_from_the_last_crossing():
    losses = [LN10] * 50 + [1.5] * 5 + [LN10] * 45 + [1.0] * 60
    assert escape_step(trace(losses), 10) == 1010


def test_a_slow_descent_escapes_where_the_running_mean_crosses_the_line():
    # Linear descent from ln 10 by 0.001 per record: the 10-record mean at record i (0-based end)
    # is ln 10 - 0.001 * (i - 4.5); it is below ln 10 - 0.05 from i = 55 on (step 560).
    losses = [LN10 - 0.001 * i for i in range(300)]
    assert escape_step(trace(losses), 10) == 560


def test_a_run_that_diverges_after_leaving_is_not_counted_as_left():
    losses = [LN10] * 50 + [1.0] * 50 + [math.nan] * 20
    assert escape_step(trace(losses), 10) is None


def test_a_trace_shorter_than_one_window_cannot_escape():
    assert escape_step(trace([0.5] * (ESCAPE_WINDOW - 1)), 10) is None
    assert escape_step(trace([0.5] * ESCAPE_WINDOW), 10) == 10 * ESCAPE_WINDOW


def test_running_means_are_the_window_means():
    assert running_means([1, 2, 3, 4], window=2) == [1.5, 2.5, 3.5]
    assert math.isnan(running_means([1, math.nan, 3], window=2)[0])


def _state() -> TrainState:
    model = torch.nn.Linear(2, 10)
    return TrainState(
        name="m",
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        config=resolve("smoke"),
        num_classes=10,
        batch_size=4,
    )


@pytest.mark.parametrize("stop_after", [None, 0, 200])
def test_loss_trace_records_every_10_steps_and_stops_after_the_escape(stop_after):
    state, cb = _state(), LossTrace(stop_after=stop_after)
    stopped_at = None
    for step in range(1, 3001):
        state.step = step
        state.batch_loss = torch.tensor(LN10 if step <= 1000 else 1.0)
        cb.on_batch_end(state)
        if state.stop_requested and stopped_at is None:
            stopped_at = step
    recorded = state.callback_state[TRACE_KEY]
    assert [s for s, _ in recorded[:3]] == [10, 20, 30]
    assert len(recorded) == 300
    assert escape_step(recorded, 10) == 1010
    assert stopped_at == (None if stop_after is None else 1010 + stop_after)
    assert state.done == (stop_after is not None)


def test_survival_curve_counts_censored_runs_as_still_at_risk():
    e = Escapes("x", left=(100, 200), censored=(300,))
    steps, alive = e.curve()
    assert steps == [0.0, 100.0, 200.0, 300.0]
    assert alive == pytest.approx([1.0, 2 / 3, 1 / 3, 1 / 3])
    assert e.median() == 200
    assert e.text() == "2/3 left: median 200 (100–200); 1 not left by step 300"


def test_survival_with_every_run_censored_has_no_median():
    e = Escapes("x", left=(), censored=(2112, 2112))
    assert e.median() is None
    assert e.text() == "0/2 left; 2 not left by step 2,112"


def test_rows_without_an_escape_record_are_left_out_not_censored():
    rows = [
        {"escape_step": 500, "steps": 900},
        {"escape_step": None, "steps": 900},
        {"steps": 40},  # too short to tell, or written before the escape was recorded
    ]
    e = escapes("x", rows)
    assert (e.left, e.censored, e.n) == ((500,), (900,), 2)


def _cell(settings: dict, left=(), censored=()) -> dict:
    return {"settings": settings, "escape_steps": list(left), "censored_at": list(censored)}


def test_escape_sentences_attribute_only_single_setting_changes():
    base = {"optim.momentum": 0.9, "model.width_mult": 1.0}
    summary = [
        _cell(base, left=(1200, 1300)),
        _cell({**base, "optim.momentum": 0.0}, censored=(2112, 2112)),  # one change: whether
        _cell({**base, "model.width_mult": 0.5}, left=(400, 500)),  # one change: when
        _cell({**base, "model.width_mult": 0.25}, left=(1250, 1400)),  # overlapping steps
        _cell({"optim.momentum": 0.0, "model.width_mult": 0.25}, censored=(2112,)),
    ]
    text = escape_sentences(summary, 10)
    assert text[0].startswith(
        "Reference for the escape from ln 10: momentum 0.9, width_mult 1: 2/2"
    )
    by_change = {t.split(":")[0]: t for t in text[1:]}
    assert set(by_change) == {
        "optim.momentum 0.9 → 0 (all else equal)",
        "model.width_mult 1 → 0.5 (all else equal)",
        "model.width_mult 1 → 0.25 (all else equal)",
        "model.width_mult 0.5 → 0.25 (all else equal; from momentum 0.9, width_mult 0.5)",
        "model.width_mult 1 → 0.25 (all else equal; from momentum 0, width_mult 1)",
        "optim.momentum 0.9 → 0 (all else equal; from momentum 0.9, width_mult 0.25)",
    }  # no sentence for a pair that differs in two settings (e.g. the last cell vs the first)
    assert (
        "every run of the first left (the latest at step 1,300), none of these by step 2,112; a "
        "difference in whether it leaves, within this budget" in text[1]
    )
    # 2,112 steps is under twice the latest escape (2 x 1,300): a later escape is not ruled out.
    assert "so a later escape is not ruled out" in text[1]
    long_budget = escape_sentences(
        [summary[0], _cell(summary[1]["settings"], censored=(3000,))], 10
    )
    assert "by step 3,000" in long_budget[1] and "not ruled out" not in long_budget[1]

    assert (
        "changes when it leaves (earlier" in by_change["model.width_mult 1 → 0.5 (all else equal)"]
    )
    assert (
        "not shown (the escape steps overlap)"
        in by_change["model.width_mult 1 → 0.25 (all else equal)"]
    )
    assert (
        "no run of either cell left ln 10"
        in by_change["model.width_mult 1 → 0.25 (all else equal; from momentum 0, width_mult 1)"]
    )


def test_escape_sentences_need_two_escapes_per_cell_to_compare_when():
    summary = [_cell({"k": 1}, left=(1200,)), _cell({"k": 2}, left=(400,))]
    (_, sentence) = escape_sentences(summary, 10)
    assert "not shown (one escape in a cell: no spread)" in sentence
    assert "a single seed is not a rate" in sentence


def test_escape_sentences_are_absent_without_escape_records():
    assert escape_sentences([{"settings": {"k": 1}}], 10) == []


def test_each_seed_escape_cell_differs_from_the_recipe_in_one_setting_alone():
    keys = ESCAPE_CELL_KEYS.split("+")
    recipe = dict(zip(keys, ESCAPE_CELLS["recipe"].split("+")))
    for name, cell in ESCAPE_CELLS.items():
        values = dict(zip(keys, cell.split("+")))
        changed = [k for k in keys if values[k] != recipe[k]]
        expected = {"recipe": 0, "plain-sgd-lr0.1": 2}.get(name, 1)  # lr/(1-m) kept: two keys
        assert len(changed) == expected, (name, changed)


def test_the_recipe_cell_is_the_full_width_seed_run_in_bf16():
    """The cell every control is paired with has the settings of the earlier full-width run
    (compare --preset seed --amp bf16) in everything that shapes training."""
    from resnet_lab.grid_engine import parse_axis, plan

    cfg = resolve("seed-escape", cli={"grid.axes": [escape_axis("recipe")]})
    ((_, rcfg),) = plan(cfg)
    seed = resolve("seed", cli={"train.amp": "bf16"})
    assert rcfg.optim == seed.optim and rcfg.data == seed.data and rcfg.model == seed.model
    assert rcfg.grid.model == "deep_cnn" and rcfg.train.batch_size == seed.train.batch_size
    assert rcfg.train.amp == "bf16" and rcfg.train.stop_after_escape == 352
    assert parse_axis(escape_axis()).values[0] == parse_axis(escape_axis("recipe")).values[0]


def test_the_escape_is_in_every_grid_row_and_a_merged_report(tmp_path, capsys):
    from resnet_lab.cli import main

    args = ["grid", "--preset", "grid-smoke", "--batch-size", "8", "--epochs", "2"]
    args += ["--stop-after-escape", "20", "--no-diagnostics"]
    assert main([*args, "--axis", "model.depth=8", "--out", str(tmp_path / "a")]) == 0
    assert (
        main([*args, "--axis", "model.depth=8", "--seeds", "1", "--out", str(tmp_path / "b")]) == 0
    )
    rows = json.loads((tmp_path / "a" / "grid.json").read_text())["runs"]
    for r in rows:
        # 125 steps per epoch: every run here leaves ln 10 and stops 20 steps after it.
        assert r["escape_step"] is not None and r["steps"] == r["escape_step"] + 20
    assert main(["report", str(tmp_path / "a"), str(tmp_path / "b")]) == 2
    assert "pass --out DIR" in capsys.readouterr().err
    merged = tmp_path / "merged"
    assert main(["report", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(merged)]) == 0
    blob = json.loads((merged / "grid.json").read_text())
    assert blob["seeds"] == [0, 1] and len(blob["runs"]) == 2
    cell = blob["summary"][0]
    assert cell["seeds"] == [0, 1] and len(cell["escape_steps"]) == 2
    md = (merged / "grid.md").read_text()
    assert "left ln 10 at step" in md and "plateau_survival.png" in md
    # A grid without grid.json yet (interrupted or still running) takes part with its finished runs.
    (tmp_path / "b" / "grid.json").unlink()
    partial = tmp_path / "partial"
    assert main(["report", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(partial)]) == 0
    blob = json.loads((partial / "grid.json").read_text())
    assert len(blob["runs"]) == 2 and blob["provenance"]["unfinished"] == "b: 1 of 1 runs finished"
    # The same grid twice holds each run twice: refused, and nothing is written.
    assert (
        main(["report", str(tmp_path / "a"), str(tmp_path / "a"), "--out", str(tmp_path / "c")])
        == 2
    )
    assert "more than one of these grids" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()
    # A directory holding other files is not written into.
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "notes.txt").write_text("mine")
    assert (
        main(["report", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "d")])
        == 2
    )
    assert (tmp_path / "d" / "notes.txt").read_text() == "mine"


def test_a_negative_stop_after_escape_is_one_line(tmp_path, capsys):
    from resnet_lab.cli import main

    assert (
        main(["compare", "--preset", "smoke", "--stop-after-escape", "-1", "--out", str(tmp_path)])
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "stop_after_escape must be >= 0" in err


def test_no_normalize_feeds_pixels_in_0_1(tmp_path):
    from resnet_lab.config import DataConfig
    from resnet_lab.data import load_data, make_batches

    cfg = resolve("smoke", cli={"data.normalize": False})
    data = load_data(DataConfig(dataset="synthetic", val_size=200, normalize=False))
    assert data.mean == (0.0, 0.0, 0.0) and data.std == (1.0, 1.0, 1.0)
    x, _ = next(iter(make_batches(data, cfg, torch.device("cpu"))["val"]))
    assert x.min() >= 0 and x.max() <= 1 and x.max() > 0.5
    normal = load_data(DataConfig(dataset="synthetic", val_size=200))
    assert normal.mean != data.mean


def test_function_step_separates_a_shared_shift_from_the_input_dependent_change():
    from resnet_lab.diagnostics.diagnose import function_step

    class BiasOnly(torch.nn.Module):  # logits = bias: one step moves every image alike
        def __init__(self):
            super().__init__()
            self.bias = torch.nn.Parameter(torch.zeros(10))

        def forward(self, x):
            return self.bias.expand(len(x), 10) + 0 * x.flatten(1)[:, :1]

    x, y = torch.randn(8, 3, 4, 4), torch.arange(8) % 10
    m = BiasOnly()
    f = function_step(m, x, y, torch.randn(5, 3, 4, 4), lr=0.5)
    # The gradient of the mean cross-entropy w.r.t. the bias is softmax - onehot averaged: at zero
    # logits 0.1 - (share of the class in y); the step moves every image's logits by lr times that.
    grad = 0.1 - torch.bincount(y, minlength=10).float() / 8
    assert f["logit_change_rms"] == pytest.approx(
        (0.5 * grad).pow(2).mean().sqrt().item(), rel=1e-5
    )
    assert f["input_dependent_change_rms"] == pytest.approx(0.0, abs=1e-7)
    assert torch.equal(m.bias, torch.zeros(10)) and m.bias.grad is None  # the model is untouched

    lin = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48, 10))
    g = function_step(lin, x, y, torch.randn(5, 3, 4, 4), lr=0.5)
    assert g["input_dependent_change_rms"] > 1e-3  # weights on the input: images move differently


def test_seed_plain_sgd_is_the_seed_preset_with_momentum_0_alone():
    from resnet_lab.config import flatten, to_dict

    a = flatten(to_dict(resolve("seed", cli={"train.amp": "bf16"})))
    b = flatten(to_dict(resolve("seed-plain-sgd")))
    assert {k for k in a if a[k] != b[k]} == {"preset", "optim.momentum"}
    assert b["optim.momentum"] == 0.0


def test_escape_sentences_carry_their_tests():
    """Each pair names Fisher's exact test on how many runs left, and with three or more runs per
    cell the log-rank test on the censored escape steps (values from scipy.stats)."""
    from scipy import stats

    summary = [
        _cell({"k": 1}, left=(1200, 1300, 1350)),
        _cell({"k": 2}, censored=(2112, 2112, 2112)),
        _cell({"k": 3}, censored=(2112,)),
    ]
    text = escape_sentences(summary, 10)
    three = next(t for t in text if t.startswith("k 1 → 2"))
    ref = stats.logrank(
        stats.CensoredData(uncensored=[1200, 1300, 1350]), stats.CensoredData(right=[2112] * 3)
    ).pvalue
    assert "3/3 vs 0/3 left, Fisher's exact test p = 0.1: not shown" in three
    assert f"log-rank test on the escape steps p = {ref:.2g}" in three
    one = next(t for t in text if t.startswith("k 1 → 3"))
    assert "3/3 vs 0/1 left, Fisher's exact test p = 0.25: not shown" in one
    assert "log-rank" not in one  # one run: no curve to test
    # Three runs a side but no run left on either: the test has no event to compare (scipy: nan).
    stuck = escape_sentences(
        [_cell({"k": 2}, censored=(2112,) * 3), _cell({"k": 4}, censored=(240,) * 3)], 10
    )
    assert "no log-rank test (no run of either cell left)" in stuck[1] and "nan" not in stuck[1]
    # Every run of both cells left at one and the same step (seed-controls: step 100): 0 / 0.
    tied = escape_sentences(
        [_cell({"k": 2}, left=(100,) * 3), _cell({"k": 4}, left=(100,) * 3)], 10
    )
    assert "no log-rank test (undefined: every run of both cells left at the same step)" in tied[1]
    assert "nan" not in tied[1]


def test_an_escape_pair_of_two_networks_is_not_called_a_single_factor():
    base = {"grid.model": "deep_cnn", "optim.momentum": 0.9}
    summary = [
        _cell(base, left=(1390, 1850)),
        _cell({**base, "grid.model": "resnet_seed_plain"}, censored=(2112,)),
    ]
    [_, pair] = escape_sentences(summary, 10)
    assert pair.startswith(
        "grid.model deep_cnn → resnet_seed_plain (a different network, not one factor)"
    )
    assert "all else equal" not in pair
