"""He et al.'s CIFAR family, the LR schedule and warm-up, and the resumable sweep."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from torch import nn

from conftest import kill_when_written
from resnet_lab import inference
from resnet_lab.config import resolve
from resnet_lab.data import load_data, make_batches
from resnet_lab.models.layers import PadShortcut, ResidualBlock
from resnet_lab.registry import create_model
from resnet_lab.train import Callback, LRSchedule, TrainState, build_optimizer, fit, main_path_depth


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize(
    "depth,paper_millions", [(20, 0.27), (32, 0.46), (44, 0.66), (56, 0.85), (110, 1.7)]
)
def test_parameter_counts_match_the_paper_and_plain_equals_residual_under_option_a(
    depth, paper_millions
):
    res, plain = create_model(f"resnet{depth}"), create_model(f"plain{depth}")
    assert round(n_params(res) / 1e6, 2 if depth < 110 else 1) == paper_millions
    assert n_params(res) == n_params(plain)
    assert main_path_depth(res) == depth


def test_option_b_adds_exactly_the_two_projections():
    a, b = create_model("resnet20"), create_model("resnet20", shortcut="B")
    assert n_params(b) - n_params(a) == (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64)


@pytest.mark.parametrize("projection", ["pad", "when_needed"])
def test_shortcuts_keep_shapes_at_stage_changes(projection):
    block = ResidualBlock(16, 32, stride=2, norm="batch", projection=projection)
    x = torch.randn(2, 16, 32, 32)
    assert block(x).shape == (2, 32, 16, 16)
    for depth, shortcut in ((20, "A"), (32, "B")):
        feats = create_model("cifar_net", depth=depth, shortcut=shortcut).features
        x = torch.randn(2, 3, 32, 32)
        shapes = []
        for layer in feats:
            x = layer(x)
            shapes.append(tuple(x.shape[1:]))
        assert (16, 32, 32) in shapes and (32, 16, 16) in shapes and shapes[-1] == (64, 1, 1)


def test_option_a_shortcut_subsamples_and_zero_pads():
    x = torch.randn(2, 16, 8, 8)
    y = PadShortcut(16, 32, 2)(x)
    assert y.shape == (2, 32, 4, 4)
    assert torch.equal(y[:, 8:24], x[:, :, ::2, ::2])
    assert y[:, :8].abs().sum() == 0 and y[:, 24:].abs().sum() == 0


def test_cifar_net_rejects_bad_depths():
    from resnet_lab.errors import UserError

    with pytest.raises(UserError, match="6n\\+2"):
        create_model("cifar_net", depth=21)


class LRLog(Callback):
    def __init__(self):
        self.lrs = []

    def on_after_backward(self, state):
        self.lrs.append(state.optimizer.param_groups[0]["lr"])


def _fit(cfg, model_name="cifar_net", **options):
    data = load_data(cfg.data)
    torch.manual_seed(0)
    model = create_model(model_name, width_mult=0.25, **options)
    state = TrainState(
        name="t",
        model=model,
        optimizer=build_optimizer(model, cfg.optim),
        config=cfg,
        num_classes=10,
    )
    log = LRLog()
    fit(state, make_batches(data, cfg, torch.device("cpu")), [LRSchedule(cfg.optim), log])
    return state, log.lrs


def test_lr_is_divided_by_ten_at_each_milestone_and_training_stops_at_max_steps():
    cfg = resolve(
        "sweep-smoke",
        None,
        {
            "optim.milestones": "5,12",
            "optim.lr": 0.1,
            "train.max_steps": 15,
            "train.epochs": 5,
            "train.diagnostics": False,
        },
    )
    state, lrs = _fit(cfg, depth=8)
    assert state.step == 15 and len(lrs) == 15
    assert lrs[:5] == [0.1] * 5
    assert lrs[5:12] == pytest.approx([0.01] * 7) and lrs[12:] == pytest.approx([0.001] * 3)
    assert state.history[-1]["step"] == 15


def test_warm_up_only_for_deep_nets_and_ends_when_training_error_drops():
    cfg = resolve(
        "sweep-smoke",
        None,
        {
            "optim.warmup_lr": 0.01,
            "optim.warmup_min_depth": 8,
            "optim.milestones": "",
            "optim.warmup_until_error": 85.0,
            "train.epochs": 3,
        },
    )
    state, lrs = _fit(cfg, depth=8)
    assert lrs[0] == 0.01 and lrs[-1] == cfg.optim.lr
    end = state.callback_state["warmup_ended_at_step"]
    assert lrs[:end] == [0.01] * end and set(lrs[end:]) == {cfg.optim.lr}
    shallow = resolve(
        "sweep-smoke",
        None,
        {"optim.warmup_lr": 0.01, "optim.warmup_min_depth": 110, "optim.milestones": ""},
    )
    _, lrs = _fit(shallow, depth=8)
    assert set(lrs) == {shallow.optim.lr}


def test_a_resume_during_the_warm_up_continues_it_exactly():
    """The warm-up's running-error window is saved with the callback state (checkpoints carry it), so
    a run stopped mid-warm-up and continued by a fresh LRSchedule ends the warm-up at the same step."""
    import copy
    import dataclasses

    overrides = {
        "optim.warmup_lr": 0.01,
        "optim.warmup_min_depth": 8,
        "optim.milestones": "",
        "optim.warmup_until_error": 85.0,
        "train.epochs": 3,
    }
    cfg = resolve("sweep-smoke", None, overrides)
    full, full_lrs = _fit(cfg, depth=8)
    first, first_lrs = _fit(
        dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, epochs=1)), depth=8
    )
    assert first.callback_state["warming_up"] and len(first.callback_state["warmup_recent"]) > 0
    data = load_data(cfg.data)
    state = TrainState(
        name="t", model=first.model, optimizer=first.optimizer, config=cfg, num_classes=10
    )
    state.epoch, state.step, state.history = first.epoch, first.step, list(first.history)
    state.callback_state = copy.deepcopy(first.callback_state)  # what last.pt holds
    log = LRLog()
    fit(state, make_batches(data, cfg, torch.device("cpu")), [LRSchedule(cfg.optim), log])
    assert (
        state.callback_state["warmup_ended_at_step"] == full.callback_state["warmup_ended_at_step"]
    )
    assert first_lrs + log.lrs == full_lrs


def _sweep(out, *extra):
    return [
        sys.executable,
        "-m",
        "resnet_lab.cli",
        "sweep",
        "--preset",
        "sweep-smoke",
        "--out",
        str(out),
        "--epochs",
        "4",
        "--no-tensorboard",
        *extra,
    ]


@pytest.mark.slow
def test_sweep_resumes_after_a_kill_and_matches_an_uninterrupted_sweep(tmp_path):
    reference = tmp_path / "ref"
    assert (
        subprocess.run(_sweep(reference), check=False, capture_output=True, timeout=600).returncode
        == 0
    )

    out = tmp_path / "killed"
    kill_when_written(_sweep(out), out / "resnet8-seed0" / "checkpoints" / "last.pt")
    first_done = json.loads((out / "plain8-seed0" / "run.json").read_text())
    assert first_done["status"] == "completed"

    again = subprocess.run(_sweep(out), check=False, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert "plain8-seed0: finished earlier, skipped" in again.stdout
    assert "resumed at epoch" in again.stdout
    ref = {r["run"]: r for r in json.loads((reference / "sweep.json").read_text())["runs"]}
    got = {r["run"]: r for r in json.loads((out / "sweep.json").read_text())["runs"]}
    for run in ref:
        for key in ("final_train_loss", "final_val_acc", "test_acc", "steps"):
            assert got[run][key] == ref[run][key], (run, key)
    metrics = (out / "resnet8-seed0" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(l)["epoch"] for l in metrics] == [1, 2, 3, 4]
    md = (out / "sweep.md").read_text()
    assert (out / "sweep.html").is_file() and "Figure 6 analogue" in md
    # the settings shown are the sweep's own: not compare's model list, which it does not train
    assert "depths:" in md and "simple_cnn" not in md


@pytest.mark.slow
def test_sweep_refuses_a_directory_made_with_other_settings(tmp_path):
    out = tmp_path / "s"
    assert (
        subprocess.run(_sweep(out), check=False, capture_output=True, timeout=600).returncode == 0
    )
    proc = subprocess.run(
        _sweep(out, "--lr", "0.2"), check=False, capture_output=True, text=True, timeout=120
    )
    assert (
        proc.returncode == 2
        and "different config" in proc.stderr
        and "Traceback" not in proc.stderr
    )


def _study(errors: dict[tuple[str, int], list[float]], verdict="exploding gradients"):
    """(summary, rows) of a sweep whose nets end at these clean training errors, one per seed (seeds
    0, 1, ...), the summary computed from the rows as the sweep computes it."""
    from resnet_lab.sweep import summarise

    rows = [
        {
            "family": f,
            "depth": d,
            "seed": s,
            "run": f"{f}{d}-seed{s}",
            "final_train_clean_acc": 100 - e,
            "final_train_acc": 100 - e,
            "final_val_acc": 100 - e,
            "test_acc": 100 - e,
            "verdict_init": verdict if f == "plain" and d == 56 else "healthy",
            "verdict_final": "healthy",
            "backward_change_init": 1e4 if d == 56 else 20.0,
        }
        for (f, d), errs in errors.items()
        for s, e in enumerate(errs)
    ]
    return summarise(rows), rows


def _sentences(errors, **kw) -> str:
    from resnet_lab.reporting.conclusions import degradation_sentences

    return " ".join(degradation_sentences(*_study(errors, **kw)))


def test_degradation_is_said_only_when_the_paired_interval_excludes_zero():
    both = _sentences(
        {
            ("plain", 20): [10.0, 10.5, 9.5],
            ("plain", 56): [14.0, 14.8, 13.5],  # +4.0, +4.3, +4.0 per seed
            ("resnet", 20): [9.0, 9.4, 8.6],
            ("resnet", 56): [8.0, 8.5, 7.6],  # -1.0, -0.9, -1.0 per seed
        }
    )
    assert "higher: degradation (plain-56 − plain-20: +4.10 points, 95 % CI" in both
    assert "paired t over 3 seeds" in both
    assert "Both halves of He et al.'s result are shown" in both
    assert "No plain run's gradients vanished" in both and "plain-56 exploding gradients" in both

    # The same means with per-seed gaps that disagree: the interval covers 0, no degradation claimed.
    noisy = _sentences(
        {
            ("plain", 20): [10.0, 10.5, 9.5],
            ("plain", 56): [18.0, 7.5, 16.5],  # +8.0, -3.0, +7.0
            ("resnet", 20): [9.0, 9.4, 8.6],
            ("resnet", 56): [8.0, 8.5, 7.6],
        }
    )
    assert "degradation" not in noisy.replace("degradation problem", "")
    assert "not distinguishable (plain-56 − plain-20: +4.00 points" in noisy
    assert "Both halves" not in noisy

    # One seed: no interval; the report says so and claims nothing.
    one = _sentences({("plain", 20): [10.0], ("plain", 56): [14.0]})
    assert "no claim either way" in one and "too few seeds for an interval" in one
    assert ": degradation" not in one


def test_the_interaction_is_the_per_seed_difference_of_the_depth_penalties():
    text = _sentences(
        {
            ("plain", 20): [10.0, 10.5, 9.5],
            ("plain", 56): [14.0, 14.8, 13.5],  # penalties +4.0, +4.3, +4.0
            ("resnet", 20): [9.0, 9.4, 8.6],
            ("resnet", 56): [8.0, 8.5, 7.6],  # penalties -1.0, -0.9, -1.0
        }
    )
    # Per seed 5.0, 5.2, 5.0: the paired t interval of issue 32's interaction.
    ref = inference.paired_difference([0.0, 0.0, 0.0], [5.0, 5.2, 5.0])
    assert (
        f"plain minus residual (per seed, the difference of the two families' differences): {ref.text()}: larger without skips."
        in text
    )


def test_the_skips_alone_are_plain_minus_residual_per_seed_at_each_depth():
    text = _sentences(
        {
            ("plain", 20): [10.0, 10.5, 9.5],
            ("plain", 56): [14.0, 14.8, 13.5],
            ("resnet", 20): [9.0, 9.4, 8.6],  # plain - resnet per seed: +1.0, +1.1, +0.9
            ("resnet", 56): [8.0, 8.5, 7.6],  # +6.0, +6.3, +5.9
        }
    )
    at20 = inference.paired_difference([9.0, 9.4, 8.6], [10.0, 10.5, 9.5])
    at56 = inference.paired_difference([8.0, 8.5, 7.6], [14.0, 14.8, 13.5])
    assert (
        f"The skips alone (plain-N − resnet-N, per seed: the same net but for its skips): "
        f"depth 20: {at20.text()}; depth 56: {at56.text()}." in text
    )
    assert at56.estimate == pytest.approx(6.0667, abs=1e-4) and at56.shown
    # One family only: there is no pair that differs in the skips alone.
    assert "skips alone" not in _sentences({("plain", 20): [10.0], ("plain", 56): [14.0]})


def test_a_residual_gap_with_a_wide_interval_neither_shows_nor_refutes_the_second_half():
    """The case measured by degradation-cpu-residual at 4,000 iterations: per-seed gaps resnet-56 -
    resnet-20 of +7.6, +0.4 and -2.9 points (a mean of +1.7 whose interval spans about -11.6 to +15)."""
    text = _sentences(
        {
            ("plain", 20): [36.0, 34.0, 38.0],
            ("plain", 56): [74.0, 71.0, 78.0],
            ("resnet", 20): [20.0, 19.0, 21.0],
            ("resnet", 56): [27.6, 19.4, 18.1],
        }
    )
    assert "plain-56 − plain-20" in text and "higher: degradation" in text
    assert (
        "not distinguishable (resnet-56 − resnet-20: +1.70 points, 95 % CI -11.6"
        in text.replace("−11.6", "-11.6")
    )
    assert "neither shows the second half" in text and "nor rules it out" in text
    assert "Both halves" not in text and "Depth slowed training in both families" not in text


def test_a_residual_gap_inside_the_margin_but_with_a_wide_interval_is_not_called_no_worse():
    """Issue 32's asymmetric case: a mean gap <= 0 is not "no worse" while the interval reaches
    past the margin fixed in advance."""
    text = _sentences(
        {
            ("plain", 20): [10.0, 10.5, 9.5],
            ("plain", 56): [14.0, 14.8, 13.5],
            ("resnet", 20): [20.07, 19.0, 21.1],
            ("resnet", 56): [20.0, 14.0, 26.0],
        }
    )
    assert "Both halves" not in text and "neither shows the second half" in text


def test_depth_slowing_both_families_is_not_called_degradation():
    text = _sentences(
        {
            ("plain", 20): [10.0, 10.5, 9.5],
            ("plain", 56): [20.0, 20.4, 19.6],
            ("resnet", 20): [9.0, 9.4, 8.6],
            ("resnet", 56): [15.0, 15.5, 14.4],
        },
        verdict="vanishing gradients",
    )
    assert "Depth slowed training in both families" in text and "Both halves" not in text
    assert "had vanishing gradients" in text and "No plain run's gradients vanished" not in text


def test_plain_and_residual_nets_of_a_seed_start_from_the_same_weights():
    """Option A: plain-N and resnet-N have the same parameters, so one seed gives both the same
    initial weights (the sweep's pairs differ in the skips alone, from the first step)."""
    from resnet_lab.registry import create_model

    torch.manual_seed(3)
    plain = create_model("plain20", width_mult=0.5).state_dict()
    torch.manual_seed(3)
    res = create_model("resnet20", width_mult=0.5).state_dict()
    assert plain.keys() == res.keys() and all(torch.equal(plain[k], res[k]) for k in plain)


def test_a_diverged_deeper_plain_net_is_not_called_degradation():
    from resnet_lab.reporting.conclusions import degradation_sentences

    summary, rows = _study(
        {
            ("plain", 20): [10.0, 10.5, 9.5],
            ("plain", 56): [40.0, 41.0, 39.0],
            ("resnet", 20): [9.0, 9.4, 8.6],
            ("resnet", 56): [8.0, 8.5, 7.6],
        }
    )
    for r in rows:
        if r["family"] == "plain" and r["depth"] == 56 and r["seed"] == 1:
            r["outcome"] = "diverged"
    text = " ".join(degradation_sentences(summary, rows))
    assert "plain56-seed1 diverged: no claim from this pair" in text
    assert ": degradation" not in text and "Both halves" not in text
    assert "exploding gradients" in text


def test_the_residual_preset_differs_from_degradation_cpu_only_in_budget_and_families():
    """degradation-cpu-residual continues degradation-cpu's residual half: every setting but the
    iteration budget, its schedule and the families is the same, so each run starts from the same
    weights and sees the same batches up to the first lr drop."""
    from resnet_lab.config import flatten, to_dict

    base = flatten(to_dict(resolve("degradation-cpu", None, {})))
    longer = flatten(to_dict(resolve("degradation-cpu-residual", None, {})))
    changed = {k for k in base if base[k] != longer[k]}
    assert changed == {
        "preset",
        "optim.milestones",
        "train.max_steps",
        "train.epochs",
        "sweep.families",
    }
    assert (
        longer["sweep.families"] == ["resnet"]
        and longer["train.max_steps"] == 2 * base["train.max_steps"]
    )
    # The lr drops at the same fractions (50 %, 75 %) of the longer budget.
    assert [m / longer["train.max_steps"] for m in longer["optim.milestones"]] == [0.5, 0.75]
