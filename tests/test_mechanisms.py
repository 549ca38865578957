"""Lesion study, shattered gradients and loss landscape: cases whose answer is known by construction,
and ``resnet-lab analyze`` end to end on a smoke-sized compare, into the HTML report."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pytest
import torch
from torch import nn

from conftest import smoke_compare
from resnet_lab.cli import main
from resnet_lab.mechanisms.landscape import (
    DIRECTIONS_FORMAT,
    check_directions,
    filter_normalized,
    gaussian,
    landscape,
)
from resnet_lab.mechanisms.lesion import deleted, lesion, plan
from resnet_lab.mechanisms.shatter import lag_cosines, shatter
from resnet_lab.models.layers import ConvNet, ConvUnit, ResidualBlock
from resnet_lab.registry import create_model

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _tiny_resnet() -> ConvNet:
    features = nn.Sequential(
        ConvUnit(3, 4), ResidualBlock(4, 4), ResidualBlock(4, 8, stride=2), ConvUnit(8, 8)
    )
    return ConvNet(features, feature_shape=(8, 4, 4), num_classes=3, input_size=8).eval()


def _data(n=60, classes=3, size=8):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, 3, size, size, generator=g), torch.randint(0, classes, (n,), generator=g)


# --------------------------------------------------------------------------- lesion


def _zero_branch(block: ResidualBlock) -> ResidualBlock:
    """The block's residual branch outputs 0 (its last conv zeroed)."""
    with torch.no_grad():
        block.conv2.weight.zero_()
        block.conv2.bias.zero_()
    return block


def test_deleting_a_zero_branch_residual_block_changes_nothing():
    model, (x, y) = _tiny_resnet(), _data()
    block = _zero_branch(model.features[1])
    with torch.inference_mode():
        before = model(x)
        with deleted(model, {"features.1": nn.Identity()}):
            after = model(x)
            assert isinstance(model.features[1], nn.Identity)
    assert model.features[1] is block  # restored
    # conv2 is 0, so the block computes relu(0 + x) = x for the non-negative x a ReLU unit hands it.
    torch.testing.assert_close(after, before)
    result = lesion(model, x, y, draws=3)
    by_name = {u["module"]: u for u in result["units"]}
    assert by_name["features.1"]["drop"] == 0.0
    assert by_name["features.1"]["deleted_as"] == "identity shortcut"


def test_plan_says_which_units_cannot_be_deleted_and_how_the_others_are():
    table, swaps = plan(_tiny_resnet(), _data()[0])
    rows = {u["module"]: u for u in table}
    assert rows["features.0"] == {
        **rows["features.0"],
        "deletable": False,
        "deleted_as": "changes the shape (3->4 channels)",
    }
    assert (
        rows["features.2"]["deleted_as"] == "projection shortcut"
    )  # the stage-change block keeps its 1x1 conv
    assert rows["features.2"]["changes_shape"] and not rows["features.1"]["changes_shape"]
    assert rows["features.3"]["deleted_as"] == "identity"  # an 8->8 plain layer
    assert isinstance(swaps["features.3"], nn.Identity) and "features.0" not in swaps
    assert [u["name"] for u in table] == ["layer1", "block1", "block2", "layer2"]


def test_deleting_a_projection_block_keeps_the_relu_after_the_addition():
    # With its branch zeroed the block computes relu(proj(x) + 0): its deletion must change nothing,
    # which holds only if the stand-in keeps the ReLU (proj's bias makes negative values).
    model, (x, y) = _tiny_resnet(), _data()
    block = _zero_branch(model.features[2])
    with torch.no_grad():
        block.shortcut[0].bias.fill_(-0.5)
    result = lesion(model, x, y, draws=1)
    unit = next(u for u in result["units"] if u["module"] == "features.2")
    assert unit["acc"] == result["full_acc"] and unit["drop"] == 0.0


def test_lesion_counts_random_draws_and_restores_the_model():
    model, (x, y) = _tiny_resnet(), _data()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    result = lesion(model, x, y, draws=2, seed=3)
    assert [r["k"] for r in result["random"]] == [1, 2, 3]
    assert [r["draws"] for r in result["random"]] == [
        3,
        2,
        1,
    ]  # k=1: every unit; k=3 of 3: one subset
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, state[k])
    assert [type(m) for m in model.features] == [ConvUnit, ResidualBlock, ResidualBlock, ConvUnit]


def test_a_net_with_nothing_to_delete_is_refused_with_the_reason():
    model = create_model("simple_cnn", width_mult=0.125)
    x, y = _data(size=32)
    with pytest.raises(ValueError, match="no unit of this model can be deleted.*changes the shape"):
        lesion(model, x, y)


# --------------------------------------------------------------------------- shattered gradients


def test_a_linear_model_has_perfectly_correlated_gradients():
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 3))
    x, y = _data(n=4)
    r = shatter(model, x, y, points=32, max_lag=8)
    assert r["neighbour"] == pytest.approx(1.0, abs=1e-9)
    assert min(r["cosine"]) == pytest.approx(1.0, abs=1e-9) and r["length"] is None


def test_white_noise_gradients_are_uncorrelated():
    g = torch.randn(256, 500, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert lag_cosines(g, 4).abs().max() < 0.05


def test_deeper_plain_relu_nets_shatter_more_and_skips_slow_it_down():
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1])
    corr = {}
    for depth, skip in ((8, False), (32, False), (32, True)):
        torch.manual_seed(0)
        model = create_model("cifar_net", depth=depth, skip=skip, width_mult=0.25, input_size=16)
        corr[depth, skip] = shatter(model, x, y, points=48, max_lag=4, recalibrate=True)[
            "neighbour"
        ]
    # Measured here: 0.863 (plain-8), 0.035 (plain-32), 0.694 (resnet-32) at these seeds.
    assert corr[32, False] < corr[8, False] - 0.3
    assert corr[32, True] > corr[32, False] + 0.3


# --------------------------------------------------------------------------- loss landscape


def test_a_linear_nets_landscape_slice_is_a_parabola_in_the_step():
    g = torch.Generator().manual_seed(0)
    model = nn.Linear(5, 2).double()
    x = torch.randn(40, 5, generator=g, dtype=torch.float64)
    y = torch.randn(40, 2, generator=g, dtype=torch.float64)
    mse = lambda out, target: ((out - target) ** 2).sum()
    result, _ = landscape(model, x, y, loss_fn=mse, resolution=3)
    a, loss = np.array(result["slice"]["alphas"]), np.array(result["slice"]["loss"])
    coef = np.polyfit(a, loss, 2)
    assert coef[0] > 0 and np.abs(np.polyval(coef, a) - loss).max() < 1e-9 * loss.max()
    cubic = np.polyfit(a, loss, 3)  # not just any smooth curve: the cubic term vanishes
    assert abs(cubic[0]) < 1e-9 * loss.max()


def test_filter_normalised_directions_match_each_filter_norm_and_skip_biases():
    model = _tiny_resnet()
    d = filter_normalized(model, gaussian(model, torch.Generator().manual_seed(0)))
    for name, p in model.named_parameters():
        if p.dim() < 2:
            assert not d[name].any(), name
        else:
            torch.testing.assert_close(
                d[name].flatten(1).norm(dim=1), p.detach().flatten(1).norm(dim=1)
            )


def test_landscape_restores_the_weights_and_interpolates_between_the_endpoints():
    torch.manual_seed(0)
    init, model = _tiny_resnet(), _tiny_resnet()
    x, y = _data()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result, _ = landscape(model, x, y, init_state=init.state_dict(), resolution=3)
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, before[k])
    path = result["interpolation"]
    loss_at = dict(zip(path["alphas"], path["loss"]))
    centre = result["surface"]["loss"][1][1]
    assert loss_at[1.0] == pytest.approx(centre, rel=1e-5)  # alpha 1 = the trained weights
    assert result["slice"]["loss"][20] == pytest.approx(
        centre, rel=1e-5
    )  # the slice's middle point too
    from resnet_lab.mechanisms.common import evaluate

    assert loss_at[0.0] == pytest.approx(evaluate(init.eval(), x, y)[0], rel=1e-5)


def test_landscape_of_a_batchnorm_net_restores_weights_and_running_statistics():
    torch.manual_seed(1)
    init = create_model("cifar_net", depth=8, width_mult=0.25, input_size=8, num_classes=3)
    model = create_model("cifar_net", depth=8, width_mult=0.25, input_size=8, num_classes=3)
    x, y = _data()
    from resnet_lab.mechanisms.common import recalibrate_bn

    recalibrate_bn(model, x)  # trained-like running statistics, not the defaults
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result, _ = landscape(model, x, y, init_state=init.state_dict(), resolution=3)
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, before[k])
    assert not model.training
    assert all(np.isfinite(result["interpolation"]["loss"]))


def test_even_resolutions_are_refused_since_the_centre_must_be_a_grid_point():
    x, y = _data()
    with pytest.raises(ValueError, match="odd"):
        landscape(_tiny_resnet(), x, y, resolution=4)


def test_climb_is_the_largest_rise_to_a_later_point_and_zero_for_a_monotone_path():
    from resnet_lab.mechanisms.landscape import climb

    alphas = [-0.25, 0.0, 0.25, 0.5, 0.75, 1.0, 1.25]
    assert climb([9, 3.0, 2.0, 2.4, 2.6, 1.0, 9], alphas) == pytest.approx(
        (0.6, 0.25, 0.75)
    )  # 2.0 -> 2.6
    assert climb([0, 3.0, 2.0, 1.5, 1.2, 1.0, 0], alphas) == (
        0.0,
        0.0,
        0.0,
    )  # points outside [0, 1] ignored
    assert np.isnan(climb([0, 3.0, float("nan"), 1.5, 1.2, 1.0, 0], alphas)[0])


def test_directions_of_another_model_are_refused():
    blob = {
        "format": DIRECTIONS_FORMAT,
        "model": "other",
        "d1": {"w": torch.zeros(2, 2)},
        "d2": {"w": torch.zeros(2, 2)},
    }
    with pytest.raises(ValueError, match="made for model 'other'"):
        check_directions(_tiny_resnet(), blob)


# --------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    out = tmp_path_factory.mktemp("mech") / "run"
    assert (
        smoke_compare(out, "--no-tensorboard", "--models", "simple_cnn,deep_cnn,resnet_seed") == 0
    )
    assert main(["analyze", "lesion", str(out), "--subset", "60", "--draws", "2"]) == 0
    assert main(["analyze", "shatter", str(out), "--subset", "2"]) == 0
    assert main(["analyze", "landscape", str(out), "--subset", "40", "--resolution", "3"]) == 0
    assert main(["report", str(out)]) == 0
    return out


def test_analyze_writes_json_png_and_report_sections(analysed, capsys):
    lesion_blob = json.loads((analysed / "analysis" / "lesion.json").read_text())
    # simple_cnn has no deletable layer: it is left out of a study directory, not an error.
    assert [e["model"] for e in lesion_blob["entries"]] == ["deep_cnn", "resnet_seed"]
    assert all(e["split"] == "validation" and e["images"] == 60 for e in lesion_blob["entries"])
    shatter_blob = json.loads((analysed / "analysis" / "shatter.json").read_text())
    assert {e["family"] for e in shatter_blob["entries"]} == {"plain", "residual"}
    assert all({"init", "final"} <= set(e) for e in shatter_blob["entries"])
    for name in ("lesion", "shatter", "landscape"):
        assert (analysed / "analysis" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    assert len(list((analysed / "analysis" / "landscape-directions").glob("*.pt"))) == 3
    md = (analysed / "report.md").read_text()
    for title in ("Lesion study", "Shattered gradients", "Loss landscape"):
        assert f"## {title}" in md
    resnet = next(e for e in lesion_blob["entries"] if e["model"] == "resnet_seed")
    assert f"{resnet['full_acc']:.1f}% intact" in md  # the sentence carries the measured number
    for link in re.findall(r"\]\((figures/analysis_[a-z]+\.png)\)", md):
        assert (analysed / link).is_file()


def test_saved_directions_are_reused_for_the_same_architecture(analysed, tmp_path):
    saved = analysed / "analysis" / "landscape-directions" / "resnet_seed.pt"
    # Another --seed would draw other directions; the saved ones must win.
    assert (
        main(
            [
                "analyze",
                "landscape",
                str(analysed / "resnet_seed"),
                "--subset",
                "40",
                "--resolution",
                "3",
                "--directions",
                str(saved),
                "--seed",
                "5",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    first = json.loads((analysed / "analysis" / "landscape.json").read_text())
    again = json.loads((tmp_path / "analysis" / "landscape.json").read_text())
    a = next(e for e in first["entries"] if e["model"] == "resnet_seed")
    flat = lambda e: [v for row in e["surface"]["loss"] for v in row]
    assert flat(again["entries"][0]) == pytest.approx(flat(a), rel=1e-6)
    assert (
        main(
            [
                "analyze",
                "landscape",
                str(analysed / "resnet_seed"),
                "--subset",
                "40",
                "--resolution",
                "3",
                "--seed",
                "5",
                "--out",
                str(tmp_path / "fresh"),
            ]
        )
        == 0
    )
    fresh = json.loads((tmp_path / "fresh" / "analysis" / "landscape.json").read_text())
    assert flat(fresh["entries"][0]) != pytest.approx(flat(a), rel=1e-6)  # so the seed did matter


def _no_trace(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


@pytest.mark.parametrize(
    "case",
    [
        "no-checkpoints",
        "nothing-to-lesion",
        "foreign-directions",
        "subset-zero",
        "flag-of-another-analysis",
        "even-resolution",
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(analysed, tmp_path, capsys, case):
    before = sorted(p.relative_to(analysed) for p in analysed.rglob("*"))
    stamps = {p: p.stat().st_mtime_ns for p in (analysed / "analysis").iterdir() if p.is_file()}
    capsys.readouterr()
    if case == "no-checkpoints":
        empty = tmp_path / "empty"
        empty.mkdir()
        argv, expect = ["analyze", "lesion", str(empty)], "holds no checkpoints"
    elif case == "nothing-to-lesion":
        argv, expect = (
            ["analyze", "lesion", str(analysed / "simple_cnn")],
            "none of its layers or blocks can be deleted",
        )
    elif case == "foreign-directions":
        other = analysed / "analysis" / "landscape-directions" / "deep_cnn.pt"
        argv, expect = (
            ["analyze", "landscape", str(analysed / "resnet_seed"), "--directions", str(other)],
            "made for model 'deep_cnn'",
        )
    elif case == "subset-zero":
        argv, expect = (
            ["analyze", "shatter", str(analysed), "--subset", "0"],
            "--subset must be a positive",
        )
    elif case == "flag-of-another-analysis":
        argv, expect = (
            ["analyze", "shatter", str(analysed), "--draws", "3"],
            "--draws is an option of 'analyze lesion'",
        )
    else:
        argv, expect = (
            ["analyze", "landscape", str(analysed), "--resolution", "4"],
            "--resolution must be an odd",
        )
    assert main(argv) == 2
    assert expect in _no_trace(capsys)
    assert sorted(p.relative_to(analysed) for p in analysed.rglob("*")) == before
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    if case == "no-checkpoints":
        assert list((tmp_path / "empty").iterdir()) == []


@pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium not installed (.ci/run installs Debian's chromium)"
)
def test_report_with_analyses_renders_every_image_in_chromium(analysed, tmp_path):
    dom = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            (analysed / "report.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    match = re.search(r'<body[^>]*data-images="(\d+)/(\d+)"', dom.stdout)
    assert match and match.group(1) == match.group(2) == "7", (
        "4 report figures + 3 analysis figures should decode"
    )


def test_sigterm_mid_analysis_exits_143_in_one_line_and_writes_nothing(analysed, tmp_path):
    import os
    import signal
    import sys

    out = tmp_path / "out"
    # The whole study: its first run's log line says measuring is under way; the signal then lands
    # while the second run (of three, at 41x41 points each) is being measured.
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "resnet_lab.cli",
            "analyze",
            "landscape",
            str(analysed),
            "--subset",
            "40",
            "--resolution",
            "41",
            "--out",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    first = proc.stderr.readline()
    assert first.startswith("landscape: "), first
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, first + err
    assert "Traceback" not in err and "no new results were written" in err
    assert not out.exists()


def test_every_registered_analysis_declares_the_interface_and_a_module_that_does_not_is_refused(
    monkeypatch,
):
    import types

    from resnet_lab import mechanisms

    for name in mechanisms.ANALYSES:
        assert isinstance(mechanisms.analysis(name), mechanisms.Analysis)
    partial = types.ModuleType("half_an_analysis")
    partial.TITLE, partial.figure = "half", lambda entries: None
    monkeypatch.setitem(__import__("sys").modules, "half_an_analysis", partial)
    monkeypatch.setitem(mechanisms.ANALYSES, "half", "half_an_analysis")
    with pytest.raises(TypeError, match="lacks DEFAULT_SUBSET, prepare, measure, sentences"):
        mechanisms.analysis("half")
