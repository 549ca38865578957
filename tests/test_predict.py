"""The predicted outcome at initialisation (diagnostics/predict.py; issue 33): the four cases the
issue names, on real nets at initialisation, and every rule on constructed probes."""

from __future__ import annotations

import math

import pytest
import torch

from resnet_lab.config import DataConfig
from resnet_lab.data import load_data
from resnet_lab.diagnostics import predict as P
from resnet_lab.diagnostics import verdict as V
from resnet_lab.diagnostics.diagnose import diagnose_states, format_diagnosis


@pytest.fixture(scope="module")
def data():
    return load_data(DataConfig(dataset="synthetic"))


@pytest.mark.parametrize(
    ("name", "options", "steps", "outcome", "rule"),
    [
        # Skips + He init without BN: the logits start ~9 std wide and the classifier's steady SGD
        # step is ~9x its weight (seed-controls: 1 of 3 seeds learned).
        (
            "resnet_seed",
            {"width_mult": 0.25, "init": "kaiming", "skip": True},
            ("sgd", 0.01, 0.9),
            P.DIVERGES,
            "step larger than the weight",
        ),
        # Plain-56 with BN: the backward signal explodes, but the BN-followed convs are
        # scale-invariant, so their large steps do not count; it trains (He et al.; the map).
        (
            "cifar_net",
            {"width_mult": 0.5, "init": "kaiming", "norm": "batch", "skip": False, "depth": 56},
            ("sgd", 0.01, 0.9),
            P.TRAINS,
            None,
        ),
        # The seed's DeepCNN at quarter width, default init: merged inputs and a vanishing signal.
        (
            "deep_cnn",
            {"width_mult": 0.25},
            ("sgd", 0.01, 0.9),
            P.STAYS,
            "inputs merged, no gradient to separate them",
        ),
        # ... and under Adam, whose step does not shrink with the gradient.
        ("deep_cnn", {"width_mult": 0.25}, ("adam", 0.001, 0.0), P.TRAINS, None),
    ],
    ids=["skips-he-no-bn", "plain56-bn", "deepcnn-sgd", "deepcnn-adam"],
)
def test_the_named_cases_are_predicted_with_their_reasons(
    data, name, options, steps, outcome, rule
):
    torch.manual_seed(0)
    optimizer, lr, momentum = steps
    d = diagnose_states(
        name,
        {**options, "num_classes": 10},
        data,
        optim={"name": optimizer, "lr": lr, "momentum": momentum},
        probe_images=64,
    )
    assert d["prediction"]["outcome"] == outcome and d["prediction"]["rule"] == rule
    if rule:
        assert d["prediction"]["reasons"][0].startswith(rule)
    text = format_diagnosis(d)
    assert f"Predicted at initialisation under {d['prediction']['optimizer']}:" in text
    assert P.HIT_RATE_TEXT in text  # the measured record (tests/test_docs_numbers.py checks it)


def _layer(name, **kw):
    base = {
        "name": name,
        "grad_norm": 1.0,
        "grad_to_weight": 0.1,
        "weight_norm": 1.0,
        "weight_rms": 0.05,
        "normalised": False,
        "back_signal": 1.0,
        "input_corr": 0.5,
    }
    return {**base, **kw}


def _probe(layers, steps=("sgd", 0.01, 0.9), loss=2.3):
    return P.Probe(layers, loss, 10, P.FirstSteps(*steps))


def _path(n=6, gain=1.0, last_corr=0.5, **kw):
    """n convs with the backward signal multiplied by ``gain`` per layer toward the input, then fc."""
    convs = [
        _layer(
            f"conv{i + 1}",
            back_signal=gain ** (n - 1 - i),
            input_corr=last_corr if i == n - 1 else 0.3,
            **kw,
        )
        for i in range(n)
    ]
    return [*convs, _layer("fc")]


def test_a_healthy_probe_trains_and_no_rule_fires():
    out = P.predict(_probe(_path()))
    assert (
        out["outcome"] == P.TRAINS and out["rule"] is None and out["reasons"] == ["no rule fired"]
    )


def test_a_non_finite_loss_or_gradient_diverges():
    assert P.predict(_probe(_path(), loss=math.inf))["rule"] == "non-finite"
    layers = _path()
    layers[2] = {**layers[2], "grad_norm": math.nan}
    out = P.predict(_probe(layers))
    assert out["outcome"] == P.DIVERGES and "conv3" in out["reasons"][0]


def test_the_step_rule_uses_sgds_steady_step_and_exempts_normalised_and_zero_layers():
    layers = _path()
    layers[-1] = {**layers[-1], "grad_to_weight": 15.0}  # 0.01 / 0.1 * 15 = 1.5 > 1
    assert P.predict(_probe(layers))["outcome"] == P.DIVERGES
    assert P.predict(_probe(layers, steps=("sgd", 0.01, 0.0)))["outcome"] == P.TRAINS  # 0.15
    layers[-1] = {**layers[-1], "normalised": True}  # BN after it: scale-invariant
    assert P.predict(_probe(layers))["outcome"] == P.TRAINS
    layers[-1] = {**layers[-1], "normalised": False, "weight_norm": 0.0}  # Fixup's zero classifier
    assert P.predict(_probe(layers))["outcome"] == P.TRAINS


def test_adams_step_is_lr_per_weight_whatever_the_gradient():
    layers = _path()
    layers[-1] = {**layers[-1], "grad_to_weight": 1e4}
    assert P.predict(_probe(layers, steps=("adam", 0.001, 0.0)))["outcome"] == P.TRAINS
    layers[-1] = {**layers[-1], "weight_rms": 5e-4}  # lr 1e-3 on weights of 5e-4: 2x
    out = P.predict(_probe(layers, steps=("adam", 0.001, 0.0)))
    assert out["outcome"] == P.DIVERGES and "2x its weight" in out["reasons"][0]


def test_merged_inputs_stay_at_ln_c_only_with_a_vanishing_signal_and_only_under_sgd():
    merged_vanishing = _path(gain=0.3, last_corr=0.9995)  # 0.3^5 = 0.0024 < 1/403
    out = P.predict(_probe(merged_vanishing))
    assert out["outcome"] == P.STAYS and out["rule"].startswith("inputs merged")
    assert P.predict(_probe(_path(gain=0.3, last_corr=0.99)))["outcome"] == P.TRAINS
    assert P.predict(_probe(_path(gain=0.5, last_corr=0.9995)))["outcome"] == P.TRAINS  # 0.031
    assert P.predict(_probe(merged_vanishing, steps=("adam", 0.001, 0.0)))["outcome"] == P.TRAINS
    no_corr = [{k: v for k, v in l.items() if k != "input_corr"} for l in merged_vanishing]
    assert P.predict(_probe(no_corr))["outcome"] == P.TRAINS  # an older probe: not judged by it


def test_every_rule_that_fires_is_listed_the_deciding_one_first():
    layers = _path(gain=0.3, last_corr=0.9995)
    layers[-1] = {**layers[-1], "grad_to_weight": 50.0}
    out = P.predict(_probe(layers))
    assert out["rule"] == "step larger than the weight" and len(out["reasons"]) == 2
    assert out["reasons"][1].startswith("inputs merged")


def test_the_largest_steps_are_listed_with_whether_a_normalisation_exempts_them():
    layers = _path()
    layers[1] = {**layers[1], "grad_to_weight": 30.0, "normalised": True}  # 3x, exempt
    layers[-1] = {**layers[-1], "grad_to_weight": 5.0}  # 0.5x
    steps = P.predict(_probe(layers))["largest_steps"]
    assert [s["name"] for s in steps] == ["conv2", "fc", "conv1"]
    assert steps[0]["step"] == pytest.approx(3.0) and steps[0]["normalised"]
    assert not steps[1]["normalised"] and len(steps) == 3


def test_first_steps_take_the_warm_up_lr_only_for_nets_the_schedule_warms_up():
    optim = {"name": "sgd", "lr": 0.1, "momentum": 0.9, "warmup_lr": 0.01, "warmup_min_depth": 110}
    assert P.FirstSteps.of(optim, 110).lr == 0.01  # resnet-110: warmed up (train.LRSchedule)
    assert P.FirstSteps.of(optim, 56).lr == 0.1  # resnet-56: not
    assert P.FirstSteps.of({**optim, "warmup_lr": None}, 110).lr == 0.1
    adam = P.FirstSteps.of({"name": "adam", "lr": 0.001, "momentum": 0.9}, 20)
    assert (adam.optimizer, adam.lr, adam.momentum) == ("adam", 0.001, 0.0)
    with pytest.raises(ValueError, match="adamw"):
        P.FirstSteps.of({"name": "adamw", "lr": 0.001}, 20)


def test_a_stored_null_gradient_is_non_finite_as_the_verdict_reads_it():
    layers = _path()
    layers[0] = {**layers[0], "grad_norm": None}  # how JSON stores a NaN
    assert P.predict(_probe(layers))["rule"] == "non-finite"


def test_adam_does_not_move_a_layer_without_gradient():
    layers = _path()
    layers[-1] = {
        **layers[-1],
        "grad_to_weight": 0.0,
        "weight_rms": 1e-4,
    }  # lr/rms = 10, but no step
    assert P.predict(_probe(layers, steps=("adam", 0.001, 0.0)))["outcome"] == P.TRAINS


def test_no_backward_signal_at_all_counts_as_vanishing_unless_the_output_layer_starts_at_zero():
    layers = _path(gain=1.0, last_corr=0.9999)
    layers[0] = {**layers[0], "back_signal": 0.0}
    out = P.predict(_probe(layers))
    assert out["outcome"] == P.STAYS and "shrinks to 0" in out["reasons"][0]
    layers[-1] = {**layers[-1], "weight_norm": 0.0}  # Fixup's zero classifier: it learns first
    assert P.predict(_probe(layers))["outcome"] == P.TRAINS


def test_completely_merged_inputs_keep_their_correlation_fit():
    from resnet_lab.diagnostics.stats import input_correlation

    assert input_correlation(torch.ones(4, 3, 2, 2) * 0.3) <= 1.0
    layers = [
        {"name": f"conv{i + 1}", "input_corr": c} for i, c in enumerate((0.5, 0.99, 1.0, 1.0))
    ]
    fit = V.correlation_fit([*layers, {"name": "fc", "input_corr": 1.0}])
    assert fit is not None and fit["last"] == 1.0 and fit["one_minus"]["gain"] < 0.01
