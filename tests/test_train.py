"""The training loop, its log line, and the rules that judge a run."""

from __future__ import annotations

import io
import math

import pytest
import torch

from resnet_lab.config import resolve
from resnet_lab.data import load_data, make_batches
from resnet_lab.experiment import Judgement, judge
from resnet_lab.registry import create_model
from resnet_lab.train import (
    Callback,
    EpochPrinter,
    TrainState,
    build_optimizer,
    evaluate,
    fit,
    format_epoch_line,
)


def test_epoch_line_has_the_seed_format_exactly():
    line = format_epoch_line(1, {"loss": 2.30321, "acc": 10.0}, {"loss": 2.30289, "acc": 10.0})
    assert line == "[Epoch 01] train 2.3032/10.00% | val 2.3029/10.00%"
    assert format_epoch_line(
        20, {"loss": 2.3026, "acc": 9.77}, {"loss": 2.3026, "acc": 10}
    ).startswith("[Epoch 20]")
    assert format_epoch_line(7, {"loss": 1, "acc": 1}, {"loss": 1, "acc": 1}, width=3).startswith(
        "[Epoch 007]"
    )


@pytest.mark.parametrize("optimizer,lr", [("sgd", 0.05), ("adam", 1e-3)])
def test_trainer_lowers_the_loss_on_a_fixed_small_batch(optimizer, lr):
    cfg = resolve("smoke", None, {"optim.name": optimizer, "optim.lr": lr, "model.init": "kaiming"})
    model = create_model("simple_cnn", width_mult=0.25)
    opt = build_optimizer(model, cfg.optim)
    x, y = torch.randn(32, 3, 32, 32), torch.arange(32) % 10
    first = torch.nn.functional.cross_entropy(model(x), y).item()
    for _ in range(60):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.3 * first


class Counter(Callback):
    def __init__(self):
        self.events = []

    def on_fit_start(self, state):
        self.events.append("start")

    def on_batch_start(self, state):
        self.events.append("b0")

    def on_after_backward(self, state):
        self.events.append("bw")

    def on_batch_end(self, state):
        self.events.append("batch")

    def on_epoch_end(self, state):
        self.events.append("epoch")

    def on_fit_end(self, state):
        self.events.append("end")


def _state(cfg, name="simple_cnn", **options):
    model = create_model(name, width_mult=0.125, **options)
    return TrainState(
        name=name,
        model=model,
        optimizer=build_optimizer(model, cfg.optim),
        config=cfg,
        num_classes=10,
    )


def test_fit_runs_callbacks_in_order_and_records_history():
    cfg = resolve("smoke", None, {"train.epochs": 2})
    data = load_data(cfg.data)
    batches = make_batches(data, cfg, torch.device("cpu"))
    state, counter, out = _state(cfg), Counter(), io.StringIO()
    history = fit(state, batches, [counter, EpochPrinter(out)])
    n = len(batches["train"])
    assert counter.events == ["start"] + (["b0", "bw", "batch"] * n + ["epoch"]) * 2 + ["end"]
    assert [h["epoch"] for h in history] == [1, 2] and history[-1]["step"] == 2 * n
    assert out.getvalue().splitlines()[1] == format_epoch_line(
        2, history[1]["train"], history[1]["val"]
    )
    assert history[-1]["val"]["acc"] > 30  # the synthetic classes are easy


def test_same_seed_gives_identical_metrics_on_cpu():
    cfg = resolve("smoke", None, {"train.epochs": 1})
    data = load_data(cfg.data)
    runs = []
    for _ in range(2):
        torch.manual_seed(cfg.train.seed)
        runs.append(fit(_state(cfg), make_batches(data, cfg, torch.device("cpu")))[-1])
    assert runs[0]["train"] == runs[1]["train"] and runs[0]["val"] == runs[1]["val"]


def test_a_huge_learning_rate_is_stopped_as_diverged():
    cfg = resolve("smoke", None, {"optim.lr": 1e6, "train.epochs": 3})
    data = load_data(cfg.data)
    state = _state(cfg, init="kaiming")
    history = fit(state, make_batches(data, cfg, torch.device("cpu")))
    assert state.diverged_at_step is not None and len(history) < 3
    assert judge(history, 10, state.diverged_at_step).reason == "diverged"


def _hist(train_losses, val_accs, train_accs=None):
    train_accs = train_accs or val_accs
    return [
        {"epoch": i + 1, "train": {"loss": l, "acc": ta}, "val": {"loss": l, "acc": va}}
        for i, (l, va, ta) in enumerate(zip(train_losses, val_accs, train_accs))
    ]


def test_judge_stuck_at_ln10_fails_with_the_reason():
    status, reason, problem = vars(
        judge(_hist([2.3032, 2.3027, 2.3026], [10.0, 10.0, 10.0]), 10)
    ).values()
    assert (
        status == "failed"
        and reason == "stuck_at_ln_c"
        and "ln 10 = 2.3026" in problem
        and "all 3 epochs" in problem
    )


def test_judge_learning_run_and_overfitting_and_chance():
    assert judge(_hist([2.0, 1.5, 1.2], [30, 45, 55]), 10) == Judgement("learned", "none", "none")
    status, reason, problem = vars(
        judge(_hist([1.0, 0.5, 0.1], [50, 55, 56], [70, 90, 99]), 10)
    ).values()
    assert (
        status == "learned"
        and reason == "overfitting"
        and problem.startswith("overfitting: train 99.0% vs val 56.0%")
    )
    status, reason, problem = vars(judge(_hist([2.29, 2.25, 2.2], [10.5, 11.0, 11.9]), 10)).values()
    assert status == "failed" and reason == "chance" and "chance" in problem
    # a loss that leaves ln 10 by more than the tolerance is not "stuck" (it has 100 classes here)
    assert judge(_hist([4.5, 3.0], [30, 40]), 100).status == "learned"


def test_evaluate_uses_eval_mode_and_no_grad():
    cfg = resolve("smoke")
    data = load_data(cfg.data)
    model = create_model("deep_cnn", width_mult=0.125, norm="batch")
    res = evaluate(model, make_batches(data, cfg, torch.device("cpu"))["val"])
    assert not model.training and math.isclose(res["loss"], math.log(10), abs_tol=0.5)


def test_channels_last_is_avoided_only_where_torch_crashes():
    from torch import nn

    from resnet_lab.train import channels_last_safe

    cpu = torch.device("cpu")
    risky = nn.Sequential(
        nn.Conv2d(8, 16, 1, stride=2)
    )  # segfaults in torch 2.14's CPU backward (docs/results.md)
    assert not channels_last_safe(risky, cpu)
    assert channels_last_safe(
        create_model("resnet_seed", width_mult=0.25), cpu
    )  # 16 -> 32 and up: fine
    assert not channels_last_safe(create_model("resnet_seed", width_mult=0.125), cpu)
    assert channels_last_safe(risky, torch.device("cuda"))
