"""Collectors, verdict rules on constructed cases (must fire / must not fire), and `diagnose`."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import torch
from torch import nn

from resnet_lab.config import DataConfig
from resnet_lab.data import load_data
from resnet_lab.diagnostics import verdict as V
from resnet_lab.diagnostics.diagnose import diagnose_states
from resnet_lab.diagnostics.hooks import ResponseRecorder, measure_layers
from resnet_lab.diagnostics.stats import (
    first_to_last_ratio,
    relu_stats,
    response_stats,
    total_variation,
)
from resnet_lab.models.layers import ConvNet, ConvUnit, ResidualBlock, init_weights
from resnet_lab.registry import create_model


def plain_net(
    depth: int = 20, width: int = 16, norm: str = "none", init: str = "default"
) -> ConvNet:
    layers = [ConvUnit(3, width, norm=norm)] + [
        ConvUnit(width, width, norm=norm) for _ in range(depth - 1)
    ]
    net = ConvNet(
        nn.Sequential(*layers), feature_shape=(width, 16, 16), num_classes=10, input_size=16
    )
    return init_weights(net, init)


def res_net(blocks: int = 10, width: int = 16) -> ConvNet:
    layers = [ConvUnit(3, width)] + [ResidualBlock(width, width) for _ in range(blocks)]
    return ConvNet(
        nn.Sequential(*layers), feature_shape=(width, 16, 16), num_classes=10, input_size=16
    )


def batch(n: int = 64):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, 3, 16, 16, generator=g), torch.randint(0, 10, (n,), generator=g)


def verdict_of(model) -> dict:
    p = measure_layers(model, *batch())
    return V.gradient_verdict(p["layers"], p["loss"], 10)


def test_deep_plain_default_init_net_is_vanishing():
    torch.manual_seed(0)
    v = verdict_of(plain_net())
    assert v["verdict"] == "vanishing gradients"
    assert v["backward"]["change"] < 1 / V.SIGNAL_CHANGE_LIMIT and v["backward"]["gain"] < 0.6
    assert "shrinks" in v["evidence"][0] and any("ln 10" in e for e in v["evidence"])
    assert v["forward"]["gain"] < 1 and any("ReLU output std" in e for e in v["evidence"])


def test_same_net_with_weights_scaled_up_is_exploding():
    torch.manual_seed(0)
    net = plain_net()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.mul_(4.0)
    v = verdict_of(net)
    assert v["verdict"] == "exploding gradients" and v["backward"]["change"] > V.SIGNAL_CHANGE_LIMIT


def test_deep_batchnorm_plain_net_is_exploding_though_forward_is_normalised():
    """BN keeps every response at std 1 while the backward signal grows toward the input (Yang et
    al. 2019): the rule reads the backward signal, not the forward one."""
    torch.manual_seed(0)
    v = verdict_of(plain_net(depth=60, norm="batch", init="kaiming"))
    assert v["verdict"] == "exploding gradients" and "grows" in v["evidence"][0]
    assert abs(v["forward"]["gain"] - 1) < 0.02 and v["backward"]["gain"] > 1.1
    shallow = verdict_of(plain_net(depth=8, norm="batch", init="kaiming"))
    assert shallow["verdict"] == "healthy"  # the same growth over 7 layers stays within the limit


def test_backward_signal_does_not_depend_on_batch_size_or_layer_size():
    torch.manual_seed(0)
    net = plain_net(depth=4, init="kaiming")
    x, y = batch(32)
    once = measure_layers(net, x, y)["layers"]
    twice = measure_layers(net, torch.cat([x, x]), torch.cat([y, y]))["layers"]
    for a, b in zip(once, twice):
        assert abs(a["back_signal"] - b["back_signal"]) < 1e-4 * a["back_signal"]
    # A net whose output layer has 100x more weights than its first: healthy under He init, though
    # the raw weight-gradient norms differ by far more than the old 100x rule allowed.
    wide = ConvNet(
        nn.Sequential(*[ConvUnit(3, 64), *[ConvUnit(64, 64) for _ in range(5)]]),
        feature_shape=(64, 16, 16),
        num_classes=10,
        input_size=16,
    )
    v = verdict_of(init_weights(wide, "kaiming"))
    assert v["verdict"] == "healthy"


def test_a_non_finite_loss_is_a_non_finite_output_and_a_non_finite_gradient_exploding():
    layer = {"grad_norm": 1.0, "grad_to_weight": 0.1, "act_std": 1, "dead_frac": 0}
    layers = [{"name": "conv1", **layer}, {"name": "fc", **layer}]
    assert V.gradient_verdict(layers, math.nan, 10)["verdict"] == "non-finite output"
    bad_grad = [{"name": "conv1", **layer, "grad_norm": math.inf}, {"name": "fc", **layer}]
    assert V.gradient_verdict(bad_grad, 2.0, 10)["verdict"] == "exploding gradients"
    assert V.gradient_verdict(layers, 2.0, 10)["verdict"] == "healthy"


def test_a_stored_probe_of_a_diverged_run_is_judged_not_a_crash():
    # diagnosis.json writes NaN/inf as null; a diverged run's final probe has nulls in every layer
    # (the calibration of issue 33 re-judges such probes by today's rules).
    layer = {"grad_norm": None, "grad_to_weight": None, "act_std": None, "dead_frac": 0}
    layers = [{"name": "conv1", **layer}, {"name": "conv2", **layer}, {"name": "fc", **layer}]
    out = V.gradient_verdict(layers, None, 10, lr=0.01, momentum=0.9)
    assert out["verdict"] == "non-finite output" and math.isnan(out["first_to_last"])


def test_large_first_step_is_flagged_not_judged():
    torch.manual_seed(0)
    p = measure_layers(plain_net(depth=4, init="kaiming"), *batch())
    worst = max(l["grad_to_weight"] for l in p["layers"])
    flagged = V.gradient_verdict(p["layers"], p["loss"], 10, lr=2 / worst)
    calm = V.gradient_verdict(p["layers"], p["loss"], 10, lr=0.5 / worst)
    assert flagged["large_steps"] and not calm["large_steps"]
    assert flagged["verdict"] == calm["verdict"] == "healthy"
    assert any("SGD's steady step" in e for e in flagged["evidence"])
    # Momentum 0.9 makes the steady step 10x the first (issue 33): the calm lr is flagged with it.
    with_momentum = V.gradient_verdict(p["layers"], p["loss"], 10, lr=0.5 / worst, momentum=0.9)
    assert with_momentum["large_steps"] and "lr/(1-momentum) = " in with_momentum["evidence"][-1]


def test_a_loss_far_above_ln_c_is_evidence_of_large_logits():
    layer = {"grad_norm": 1.0, "grad_to_weight": 0.1, "act_std": 1, "dead_frac": 0}
    layers = [{"name": "conv1", **layer}, {"name": "fc", **layer}]
    high = V.gradient_verdict(layers, 16.9, 10)["evidence"]
    assert any("14.6 nats above ln 10: the logits start large" in e for e in high)
    near = V.gradient_verdict(layers, math.log(10) + 0.5, 10)["evidence"]
    assert not any("logits start large" in e for e in near)


@pytest.mark.parametrize(
    "make",
    [
        lambda: res_net(),
        lambda: plain_net(norm="batch", init="kaiming"),
        lambda: plain_net(depth=3, init="kaiming"),
    ],
)
def test_resnet_and_kaiming_bn_net_are_healthy(make):
    torch.manual_seed(0)
    assert verdict_of(make())["verdict"] == "healthy"


def test_killed_channels_are_dead_units_but_a_few_dead_are_not():
    torch.manual_seed(0)
    net = plain_net(depth=4, init="kaiming")
    conv = net.features[1].conv
    with torch.no_grad():
        conv.bias[:10].fill_(-100.0)  # 10 of 16 channels can never respond positively
    v = verdict_of(net)
    assert v["verdict"] == "dead units" and "62%" in v["evidence"][0]
    with torch.no_grad():
        conv.bias[2:10].zero_()  # only 2 of 16 dead now
    assert verdict_of(net)["verdict"] == "healthy"


def test_only_relu_outputs_count_as_units():
    """Negative logits or projection shortcuts are not dead units: no ReLU follows them directly."""
    torch.manual_seed(0)
    net = plain_net(depth=4, init="kaiming")
    with torch.no_grad():
        net.fc.bias.fill_(-100.0)  # every logit negative
    p = measure_layers(net, *batch())
    assert p["layers"][-1]["dead_frac"] is None
    assert V.gradient_verdict(p["layers"], p["loss"], 10)["verdict"] != "dead units"
    # The seed ResNet: 1x1 projections feed the addition, not a ReLU of their own.
    layers = measure_layers(create_model("resnet_seed", width_mult=0.125, input_size=16), *batch())[
        "layers"
    ]
    projections = [l for l in layers if l["name"].startswith("proj")]
    assert projections and all(l["dead_frac"] is None for l in projections)
    assert all(l["dead_frac"] is not None for l in layers if l["name"].startswith("conv"))


def test_relu_stats_dead_fraction_counts_channels():
    t = torch.randn(8, 4, 5, 5).clamp(min=0)
    t[:, 1] = 0
    s = relu_stats(t)
    assert s["dead_frac"] == 0.25 and abs(s["relu_std"] - t.std().item()) < 1e-6
    assert set(response_stats(t)) == {"act_mean", "act_std", "input_corr"}


def test_probe_leaves_model_unchanged_and_removes_hooks():
    torch.manual_seed(0)
    net = plain_net(depth=4, norm="batch", init="kaiming").eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    p = measure_layers(net, *batch())
    assert not net.training
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert all(p_.grad is None for p_ in net.parameters())
    assert all(not m._forward_hooks for m in net.modules())
    assert [l["name"] for l in p["layers"]] == ["conv1", "conv2", "conv3", "conv4", "fc"]


def test_response_after_batchnorm_is_normalised():
    torch.manual_seed(0)
    net = plain_net(depth=3, norm="batch").train()
    with ResponseRecorder(net) as rec:
        net(batch()[0] * 50)
    stds = [rec.stats[m]["act_std"] for m in rec.order if isinstance(m, nn.Conv2d)]
    assert all(abs(s - 1) < 0.05 for s in stds)  # BN output, not the raw conv output


def test_each_layer_input_correlation_is_measured_once(monkeypatch):
    # A conv a BN follows is measured at the BN's output only: the input-correlation Gram matrix
    # is computed once per weight layer, not also for the conv output it would discard.
    from resnet_lab.diagnostics import hooks, stats

    seen = []
    counted = stats.input_correlation

    def counting(t, *a):
        seen.append(t)
        return counted(t, *a)

    monkeypatch.setattr(hooks, "input_correlation", counting)
    monkeypatch.setattr(stats, "input_correlation", counting)  # inside response_stats
    torch.manual_seed(0)
    net = plain_net(depth=3, norm="batch").train()
    with ResponseRecorder(net) as rec:
        net(batch()[0] * 50)
    assert len(seen) == len(rec.order) == 4  # three convs and the classifier
    assert all(rec.stats[m]["input_corr"] is not None for m in rec.order)
    assert [rec.stats[m]["normalised"] for m in rec.order] == [True, True, True, False]


@pytest.mark.parametrize("inplace", [False, True])
def test_an_in_place_op_after_a_layer_does_not_change_its_statistics(inplace):
    # The statistics are of the layer's own output, also where a ReLU(inplace=True) overwrites it
    # before the next module runs (torchvision's VGG and AlexNet have such ReLUs).
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(inplace=inplace), nn.Linear(16, 4))
    x = torch.randn(32, 8)
    with ResponseRecorder(net) as rec:
        net(x)
    first = net[0](x).detach()
    got = rec.stats[net[0]]
    assert got["act_mean"] == pytest.approx(first.mean().item())
    assert got["act_std"] == pytest.approx(first.std().item())
    assert got["input_corr"] == pytest.approx(response_stats(first)["input_corr"])


def test_a_forward_that_fails_leaves_no_hooks_behind():
    class Broken(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            self.fc(x)  # a weight layer is waiting for its correlation when the forward fails
            raise RuntimeError("boom")

    net = Broken()
    with pytest.raises(RuntimeError, match="boom"), ResponseRecorder(net):
        net(torch.randn(2, 4))
    assert all(not m._forward_hooks for m in net.modules())


def test_layer_names_put_projections_apart():
    model = create_model("resnet_seed", width_mult=0.125)
    names = [
        l["name"]
        for l in measure_layers(model, torch.randn(4, 3, 32, 32), torch.arange(4))["layers"]
    ]
    assert names[:3] == ["conv1", "conv2", "conv3"] and names[-1] == "fc"
    assert names.count("proj1") == names.count("proj2") == 1
    assert sum(n.startswith("conv") for n in names) == 13
    assert first_to_last_ratio(
        [
            {"name": "conv1", "grad_norm": 1e-4},
            {"name": "conv2", "grad_norm": 0.5},
            {"name": "fc", "grad_norm": 0.1},
        ]
    ) == pytest.approx(2e-4)


def test_change_finding_separates_stuck_and_trained():
    stuck = V.change_finding(
        [{"name": "conv1", "rel_change": 1e-4}, {"name": "fc", "rel_change": 0.02}], 0.01
    )
    moved = V.change_finding(
        [{"name": "conv1", "rel_change": 0.8}, {"name": "fc", "rel_change": 2.0}], 0.5
    )
    assert stuck["finding"] == "weights effectively unchanged" and "0.02 (fc)" in stuck["text"]
    assert moved["finding"] == "weights changed"
    # weights barely moved but predictions did: not "unchanged"
    assert (
        V.change_finding([{"name": "fc", "rel_change": 0.01}], 0.3)["finding"] == "weights changed"
    )
    logits = torch.randn(10, 10)
    assert total_variation(logits, logits) == 0 and total_variation(logits, logits * 50) > 0.3


def test_diagnose_reports_predictions_histogram_and_weight_change():
    data = load_data(DataConfig(dataset="synthetic", val_size=200))
    torch.manual_seed(0)
    init = create_model("resnet_seed", width_mult=0.125).state_dict()
    final = {k: v * 1.5 if v.is_floating_point() else v for k, v in init.items()}
    d = diagnose_states(
        "resnet_seed", {"width_mult": 0.125}, data, init_state=init, final_state=final
    )
    assert (
        sum(d["predictions"]["init"]["pred_hist"])
        == d["prediction_images"]
        == min(256, len(data.test))
    )
    assert all(w["rel_change"] == pytest.approx(0.5, rel=1e-4) for w in d["weight_change"])
    assert d["finding"]["finding"] == "weights changed"
    assert d["layer_response"]["names"][0] == "conv1" and len(d["layer_response"]["final"]) == 16
    json.dumps(d, allow_nan=False)  # strict JSON


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "resnet_lab.cli", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_diagnose_cli_on_a_fresh_model_prints_the_verdict():
    proc = run_cli("diagnose", "--model", "deep_cnn", "--preset", "smoke", "--width", "0.25")
    assert proc.returncode == 0, proc.stderr
    assert "Verdict at initialisation: vanishing gradients" in proc.stdout
    assert "Predicted classes:" in proc.stdout and "conv10" in proc.stdout


@pytest.mark.slow
def test_diagnose_after_smoke_compare(tmp_path):
    out = tmp_path / "run"
    assert (
        run_cli(
            "compare",
            "--preset",
            "smoke",
            "--out",
            str(out),
            "--models",
            "deep_cnn,resnet_seed",
            "--diag-every",
            "5",
        ).returncode
        == 0
    )
    records = [
        json.loads(l) for l in (out / "deep_cnn" / "diagnostics.jsonl").read_text().splitlines()
    ]
    assert next(r["phase"] for r in records) == "init" and records[-1]["phase"] == "final"
    train = [r for r in records if r["phase"] == "train"]
    assert (
        train
        and all(r["step"] % 5 == 0 for r in train)
        and "update_to_weight" in train[0]["layers"][0]
    )
    proc = run_cli("diagnose", str(out / "deep_cnn" / "checkpoints" / "final.pt"), "--json")
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    assert d["verdict"]["init"]["verdict"] == "vanishing gradients"
    assert d["finding"]["finding"] == "weights effectively unchanged"
    r = json.loads(
        run_cli("diagnose", str(out / "resnet_seed" / "checkpoints" / "final.pt"), "--json").stdout
    )
    assert (
        r["verdict"]["init"]["verdict"] == "healthy"
        and r["finding"]["finding"] == "weights changed"
    )
    results = json.loads((out / "results.json").read_text())["results"]
    assert (
        "vanishing gradients" in results[0]["problem"]
        and results[0]["verdict_init"] == "vanishing gradients"
    )


@pytest.mark.parametrize(
    "content,needle",
    [
        (None, "does not exist"),
        (b"\x80\x02garbage", "unreadable or truncated"),
        ("json", "not a resnet-lab checkpoint"),
        ("unknown-model", "not registered"),
    ],
)
def test_bad_checkpoints_get_one_line_and_exit_2(tmp_path, content, needle):
    path = tmp_path / "ck.pt"
    if content == "json":
        torch.save({"hello": 1}, path)
    elif content == "unknown-model":
        torch.save({"format": "resnet-lab-checkpoint", "model": "vgg99"}, path)
    elif content is not None:
        path.write_bytes(content)
    proc = run_cli("diagnose", str(path))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], proc.stderr


def test_truncated_real_checkpoint_is_named(tmp_path):
    out = tmp_path / "run"
    assert (
        run_cli(
            "compare", "--preset", "smoke", "--out", str(out), "--models", "simple_cnn"
        ).returncode
        == 0
    )
    ck = out / "simple_cnn" / "checkpoints" / "final.pt"
    ck.write_bytes(ck.read_bytes()[: ck.stat().st_size // 2])
    proc = run_cli("diagnose", str(ck))
    assert proc.returncode == 2 and "truncated" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "name, options, expected",
    [
        ("deep_cnn", {}, "vanishing gradients"),
        ("resnet_seed_plain", {}, "vanishing gradients"),
        ("deep_cnn", {"init": "kaiming"}, "healthy"),
        ("resnet_seed", {}, "healthy"),
        ("plain56", {}, "exploding gradients"),
        ("plain110", {}, "exploding gradients"),
        ("resnet20", {}, "healthy"),
        ("resnet56", {}, "healthy"),
        ("resnet110", {}, "healthy"),
    ],
)
def test_real_families_at_init(name, options, expected):
    """The registered nets, each with its own defaults (plainN/resnetN: BN + He init; the seed's:
    no BN, PyTorch's init), at quarter width on a synthetic batch (docs/diagnostics.md has the same
    table at full width on real CIFAR-10)."""
    from resnet_lab.data import synthetic
    from resnet_lab.diagnostics.diagnose import fixed_batch

    data = synthetic(256, 10, val_size=10)
    torch.manual_seed(0)
    p = measure_layers(
        create_model(name, width_mult=0.25, **options), *fixed_batch(data.train, data, n=128)
    )
    assert V.gradient_verdict(p["layers"], p["loss"], 10)["verdict"] == expected


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--probe-images", "5000"], "is more than the 1,000 training images; pass --probe-images"),
        (["--probe-images", "0"], "must be a positive whole number"),
        (["--probe-images", "many"], "invalid int value: 'many'"),
    ],
)
def test_bad_probe_options_get_one_line(args, needle, capsys):
    from resnet_lab.cli import main

    code = main(["diagnose", "--model", "simple_cnn", "--preset", "smoke", *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and needle in err[0]


def test_diagnose_model_name_means_the_model_at_full_width(capsys):
    from resnet_lab.cli import main

    assert main(["diagnose", "--model", "plain20", "--dataset", "synthetic", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["model_options"]["norm"] == "batch" and d["model_options"]["init"] == "kaiming"
    assert (
        d["model_options"]["width_mult"] == 1.0 and d["verdict"]["init"]["backward"]["layers"] == 19
    )


def test_no_signal_at_all_is_vanishing_unless_the_output_layer_is_zero():
    """Fixup zero-initialises the classifier: no signal reaches the path at step 0, by design."""
    torch.manual_seed(0)
    net = plain_net(depth=6, init="kaiming")
    with torch.no_grad():
        net.fc.weight.zero_()
    v = verdict_of(net)
    assert v["verdict"] == "healthy" and "zero-initialised" in v["evidence"][0]
    net = plain_net(depth=6, init="kaiming")
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                m.bias.fill_(-100.0)  # every ReLU dead: nothing flows anywhere
    assert verdict_of(net)["verdict"] == "vanishing gradients"


# ------------------------------------------------- issue 33: forward statistics that carry the cause


def test_input_correlation_is_one_for_identical_images_zero_for_orthogonal_ones():
    from resnet_lab.diagnostics.stats import input_correlation

    same = torch.randn(1, 3, 4, 4).repeat(8, 1, 1, 1)
    assert input_correlation(same) == pytest.approx(1.0, abs=1e-6)
    orthogonal = torch.eye(6).reshape(6, 6, 1, 1)  # each image one different channel
    assert input_correlation(orthogonal) == pytest.approx(0.0, abs=1e-7)
    opposite = torch.stack([torch.ones(5), -torch.ones(5)])
    assert input_correlation(opposite) == pytest.approx(-1.0)
    # An all-zero image has no direction: its cosines count as 0 (here 1 of 3 pairs is 1).
    with_zero = torch.stack([torch.ones(5), torch.ones(5), torch.zeros(5)])
    assert input_correlation(with_zero) == pytest.approx(1 / 3)
    assert input_correlation(torch.randn(1, 7)) is None
    # Only the first `images` take part: the identical tail does not count.
    mixed = torch.cat([torch.eye(4), torch.ones(10, 4)])
    assert input_correlation(mixed, images=4) == pytest.approx(0.0, abs=1e-7)


def test_centred_relu_std_ignores_a_constant_offset_per_channel_that_relu_std_counts():
    from resnet_lab.diagnostics.stats import relu_stats

    offsets = torch.tensor([0.5, 2.0, 0.0]).reshape(1, 3, 1, 1)
    constant = offsets.expand(16, 3, 4, 4).clone()  # the same for every image and position
    s = relu_stats(constant)
    assert s["relu_std"] > 0.5 and s["relu_centred_std"] == pytest.approx(0.0, abs=1e-7)
    varying = constant + torch.randn(16, 3, 4, 4).abs() * torch.tensor([1.0, 1.0, 0.0]).reshape(
        1, 3, 1, 1
    )
    per_channel = varying.transpose(0, 1).reshape(3, -1).var(dim=1, unbiased=False)
    assert relu_stats(varying)["relu_centred_std"] == pytest.approx(
        per_channel.mean().sqrt().item()
    )


def test_correlation_fit_reads_c_toward_one_along_the_path_and_needs_it_recorded():
    layers = [{"name": f"conv{i + 1}", "input_corr": 1 - 0.5 * 0.5**i} for i in range(5)] + [
        {"name": "fc", "input_corr": 1.0}
    ]
    fit = V.correlation_fit(layers)
    assert fit["first"] == 0.5 and fit["last"] == pytest.approx(1 - 0.5**5)
    assert fit["one_minus"]["gain"] == pytest.approx(0.5) and fit["one_minus"]["layers"] == 5
    old = [{k: v for k, v in l.items() if k != "input_corr"} for l in layers]  # an older record
    assert V.correlation_fit(old) is None


def test_a_probe_records_the_correlation_and_centred_std_and_the_text_shows_them():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(8 * 8 * 8, 10),
    )
    x, y = torch.randn(12, 3, 8, 8), torch.randint(0, 10, (12,))
    layers = measure_layers(model, x, y)["layers"]
    assert all(-1 <= l["input_corr"] <= 1 for l in layers)
    assert [l["relu_centred_std"] is None for l in layers] == [False, False, True]
    h = model[0](x).detach().flatten(1)  # the first conv's responses, one row per image
    pairs = [
        torch.nn.functional.cosine_similarity(h[a], h[b], dim=0).item()
        for a in range(12)
        for b in range(12)
        if a != b
    ]
    assert layers[0]["input_corr"] == pytest.approx(sum(pairs) / len(pairs), abs=1e-5)
