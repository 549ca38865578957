"""Every registered model: shape, documented parameter count, gradients everywhere."""

from __future__ import annotations

import inspect

import pytest
import torch
from torch import nn

from resnet_lab.errors import UserError
from resnet_lab.registry import create_model, get_builder, list_models, register_model


def documented_rows() -> list[tuple[str, dict, int, int | None]]:
    """(model, options, params, convs) from the parameter tables in the model modules' docstrings."""
    rows = []
    modules = {inspect.getmodule(get_builder(name)) for name in list_models()}
    for module in modules:
        lines = [
            l.strip() for l in (module.__doc__ or "").splitlines() if l.strip().startswith("|")
        ]
        header = None
        for line in lines:
            cells = [c.strip() for c in line.strip("|").split("|")]
            if cells[0] == "model":
                header = cells
                continue
            if header is None or set(cells[0]) <= set("-: "):
                continue
            rec = dict(zip(header, cells))
            options = {
                k: float(v) if "." in v else int(v)
                for k, v in rec.items()
                if k not in ("model", "params", "convs")
            }
            convs = int(rec["convs"]) if "convs" in rec else None
            rows.append((rec["model"], options, int(rec["params"].replace(",", "")), convs))
    return rows


def test_every_model_has_a_documented_parameter_count():
    documented = {name for name, *_ in documented_rows()}
    assert documented == set(list_models())


@pytest.mark.parametrize("name,options,params,convs", documented_rows())
def test_parameter_count_matches_docstring_table(name, options, params, convs):
    model = create_model(name, **options)
    assert sum(p.numel() for p in model.parameters()) == params
    if convs is not None:
        assert sum(isinstance(m, nn.Conv2d) for m in model.modules()) == convs


@pytest.mark.parametrize("name", list_models())
def test_output_shape_and_every_parameter_gets_a_gradient(name):
    model = create_model(name, width_mult=0.25)
    x = torch.randn(4, 3, 32, 32)
    out = model(x)
    assert out.shape == (4, 10)
    nn.functional.cross_entropy(out, torch.tensor([0, 1, 2, 3])).backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().sum() > 0, f"{pname} got an all-zero gradient"


def test_notebook_net_accepts_28_and_32_pixel_inputs_as_in_the_notebook():
    assert create_model("notebook_resnet", input_size=28)(torch.randn(32, 3, 28, 28)).shape == (
        32,
        10,
    )
    assert create_model("notebook_resnet")(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(ValueError, match="input_size=28"):
        create_model("notebook_resnet")(torch.randn(2, 3, 28, 28))


def test_skip_off_removes_additions_and_projections_but_keeps_the_convs():
    res, plain = create_model("resnet_seed"), create_model("resnet_seed", skip=False)
    n_conv = lambda m: sum(isinstance(x, nn.Conv2d) for x in m.modules())
    assert n_conv(res) - n_conv(plain) == 2  # the two 1x1 projections at the stage changes
    assert not any(getattr(b, "skip", False) for b in plain.modules())


def test_norm_batch_adds_batchnorm_and_drops_conv_biases():
    model = create_model("deep_cnn", norm="batch", width_mult=0.25)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 10
    assert all(m.bias is None for m in model.modules() if isinstance(m, nn.Conv2d))


@pytest.mark.parametrize("init", ["kaiming", "xavier", "orthogonal"])
def test_named_inits_change_weights_and_zero_biases(init):
    torch.manual_seed(0)
    default = create_model("deep_cnn", width_mult=0.25)
    torch.manual_seed(0)
    other = create_model("deep_cnn", width_mult=0.25, init=init)
    w0, w1 = default.features[1].conv.weight, other.features[1].conv.weight
    assert not torch.allclose(w0, w1)
    assert torch.count_nonzero(other.features[1].conv.bias) == 0
    # He-style gains keep the ReLU-conv weight variance near 2/fan_in, six times PyTorch's 1/(3 fan_in).
    fan_in = w1[0].numel()
    assert 0.5 < w1.var().item() * fan_in / 2 < 1.5


def test_same_seed_same_weights():
    torch.manual_seed(3)
    a = create_model("resnet_seed", width_mult=0.25)
    torch.manual_seed(3)
    b = create_model("resnet_seed", width_mult=0.25)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_registry_refuses_duplicates_and_unknown_names_and_options():
    with pytest.raises(ValueError, match="already registered"):
        register_model("deep_cnn")(lambda: nn.Linear(1, 1))
    with pytest.raises(UserError, match="unknown model 'nope'"):
        create_model("nope")
    with pytest.raises(UserError, match="no option"):
        create_model("deep_cnn", skip=True)
    with pytest.raises(UserError, match="width_mult must be > 0"):
        create_model("deep_cnn", width_mult=0)
    with pytest.raises(ValueError, match="marks an external factory"):
        register_model("a:b")


def test_notebook_reregistration_and_ordinary_keyword_builders(monkeypatch):
    from resnet_lab import registry

    monkeypatch.setattr(
        registry, "_MODELS", dict(registry._MODELS)
    )  # leave the real registry untouched
    first = register_model("my_net")(lambda width=4, num_classes=10: nn.Linear(width, num_classes))
    second = register_model("my_net", overwrite=True)(
        lambda width=4, num_classes=10: nn.Linear(width, num_classes)
    )
    assert registry.get_builder("my_net") is second is not first
    assert registry.model_options("my_net") == ["width", "num_classes"]  # ordinary parameters count
    assert create_model("my_net", width=3).in_features == 3


def test_external_factory_is_imported_once_and_its_options_found():
    from pathlib import Path

    from resnet_lab.registry import architecture, get_builder, model_options, run_name

    spec = f"{Path(__file__).parent / 'fixtures' / 'mynet.py'}:make"
    assert get_builder(spec) is get_builder(spec)
    assert model_options(spec) == ["num_classes", "width"]
    assert run_name(spec) == "mynet.make" and run_name("resnet_seed") == "resnet_seed"
    assert architecture(spec, {"num_classes": 3}) == {
        "family": spec,
        "options": {"num_classes": 3, "width": 8},
    }


def test_resnet_seed_plain_is_resnet_seed_without_skips_by_name():
    from resnet_lab.registry import architecture, model_options

    torch.manual_seed(0)
    plain = create_model("resnet_seed_plain", width_mult=0.25)
    torch.manual_seed(0)
    off = create_model("resnet_seed", width_mult=0.25, skip=False)
    assert [k for k, _ in plain.named_parameters()] == [k for k, _ in off.named_parameters()]
    assert all(
        torch.equal(a, b) for a, b in zip(plain.state_dict().values(), off.state_dict().values())
    )
    assert "skip" not in model_options(
        "resnet_seed_plain"
    )  # the name fixes it: no way to turn skips back on
    with pytest.raises(UserError, match="has no option"):
        create_model("resnet_seed_plain", skip=True)
    a, b = (
        architecture("resnet_seed", {"width_mult": 0.25}),
        architecture("resnet_seed_plain", {"width_mult": 0.25}),
    )
    assert a["family"] == b["family"] == "resnet_seed"
    assert {k for k in a["options"] if a["options"][k] != b["options"][k]} == {"skip"}
    assert (
        architecture("deep_cnn", {})["family"] == "deep_cnn"
        and "skip" not in architecture("deep_cnn", {})["options"]
    )


@pytest.mark.parametrize("name", list_models())
def test_a_name_means_that_model(name):
    """With no model flag, every registered model is built with its own defaults: the options a run
    records (its architecture) equal the builder's signature defaults, whatever the global config."""
    from resnet_lab.config import resolve
    from resnet_lab.data import synthetic
    from resnet_lab.experiment import builder_options
    from resnet_lab.registry import architecture

    data = synthetic(40, 10, val_size=10)
    cfg = resolve("seed")  # full width: no option changed by the preset
    recorded = architecture(name, builder_options(name, cfg, data))["options"]
    assert recorded == architecture(name, {})["options"]  # the builder's defaults (and the name's)


def test_he_et_al_nets_get_bn_and_he_init_by_default():
    """`plain56` is He et al.'s plain-56 (BatchNorm, He init) and `deep_cnn` the seed's net (no BN,
    PyTorch's init) under the same default config."""
    from resnet_lab.config import resolve
    from resnet_lab.data import synthetic
    from resnet_lab.experiment import builder_options
    from resnet_lab.registry import architecture

    data = synthetic(40, 10, val_size=10)
    cfg = resolve("quick")
    plain = architecture("plain56", builder_options("plain56", cfg, data))["options"]
    deep = architecture("deep_cnn", builder_options("deep_cnn", cfg, data))["options"]
    assert (plain["norm"], plain["init"], plain["depth"]) == ("batch", "kaiming", 56)
    assert (deep["norm"], deep["init"]) == ("none", "default")
    net = create_model("plain56", **builder_options("plain56", cfg, data))
    assert any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    # Set explicitly, an option still applies ("none" is a value of norm, not "unset").
    from resnet_lab.config import apply_overrides

    cfg2 = apply_overrides(cfg, {"model.norm": "none", "model.init": "default"}, "test")
    plain2 = architecture("plain56", builder_options("plain56", cfg2, data))["options"]
    assert (plain2["norm"], plain2["init"]) == ("none", "default")


def test_a_config_saved_before_model_options_were_unset_still_builds_its_models():
    """Saved configs used to hold init: default, norm: none, shortcut: A for every model; resuming
    one builds the same nets, while a shortcut chosen now for a net without one is refused."""
    from resnet_lab.config import apply_overrides, resolve
    from resnet_lab.data import synthetic
    from resnet_lab.errors import UserError
    from resnet_lab.experiment import builder_options

    data = synthetic(40, 10, val_size=10)
    old = apply_overrides(
        resolve("quick"),
        {"model.init": "default", "model.norm": "none", "model.shortcut": "A"},
        "t",
    )
    assert builder_options("simple_cnn", old, data)["norm"] == "none"
    assert "norm" not in builder_options("notebook_resnet", old, data)
    new = apply_overrides(resolve("quick"), {"model.shortcut": "B"}, "t")
    with pytest.raises(UserError, match="has no shortcut option"):
        builder_options("simple_cnn", new, data)


def test_a_factory_taking_kwargs_gets_the_class_count_so_torchvision_models_work_by_name():
    """torchvision's builders take **kwargs and pass num_classes on to the model (issue 35): it must
    arrive, and nothing the model would refuse (in_channels, input_size) may be sent."""
    from resnet_lab.config import resolve
    from resnet_lab.data import load_data
    from resnet_lab.experiment import builder_options, check_model

    cfg = resolve("smoke", None, {})
    data = load_data(cfg.data)
    name = "torchvision.models:resnet18"
    options = builder_options(name, cfg, data)
    assert options == {"num_classes": data.num_classes}
    torch.manual_seed(0)
    check_model(name, create_model(name, **options), data)  # (2, 10) logits, in one line if not


def test_a_convnet_refuses_another_input_size_positional_or_by_keyword():
    model = create_model("simple_cnn")
    with pytest.raises(ValueError, match="built for 32x32 inputs, got \\(28, 28\\)"):
        model(torch.randn(1, 3, 28, 28))
    with pytest.raises(ValueError, match="built for 32x32"):
        model(x=torch.randn(1, 3, 28, 28))
    assert model(x=torch.randn(1, 3, 32, 32)).shape == (1, 10)
