"""timm's models by name (``timm:<name>``, the optional extra ``resnet-lab[timm]``): refused in one
line without timm; with it, built with the data's classes and channels, no weights downloaded, and
rebuilt the same from a checkpoint. The tests that need timm skip where it is not installed."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest
import torch

from resnet_lab import registry
from resnet_lab.errors import UserError

NAME = "timm:resnet10t"  # timm's smallest ResNet (4.9M parameters at 10 classes)


def test_without_timm_a_timm_model_is_refused_in_one_line_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)  # import timm raises ImportError
    monkeypatch.setattr(registry, "_EXTERNAL", {})
    with pytest.raises(UserError) as info:
        registry.create_model(NAME, num_classes=10)
    message = str(info.value)
    assert "\n" not in message and "pip install 'resnet-lab[timm]'" in message
    assert NAME in message


def test_a_timm_model_is_built_with_the_datas_classes_and_channels():
    pytest.importorskip("timm")
    from resnet_lab.data import synthetic
    from resnet_lab.experiment import builder_options, check_model

    data = synthetic(40, 10, val_size=10)
    options = builder_options(NAME, _config(), data)
    assert options == {"num_classes": 10, "in_channels": 3}
    model = registry.create_model(NAME, **options)
    check_model(NAME, model, data)  # (2, 10) logits on 3x32x32 images, in one line if not
    assert registry.architecture(NAME, options) == {"family": NAME, "options": options}
    assert registry.run_name(NAME) == "timm.resnet10t"
    gray = registry.create_model(NAME, num_classes=3, in_channels=1)
    assert gray(torch.zeros(2, 1, 32, 32)).shape == (2, 3)


def test_an_unknown_timm_name_is_refused_in_one_line():
    pytest.importorskip("timm")
    with pytest.raises(UserError, match="timm has no model 'resnet10tt'"):
        registry.create_model("timm:resnet10tt")


def test_a_checkpoint_of_a_timm_model_rebuilds_the_same_network(tmp_path):
    pytest.importorskip("timm")
    from resnet_lab.diagnostics.diagnose import build
    from resnet_lab.runs import load_checkpoint, save_checkpoint

    options = {"num_classes": 10, "in_channels": 3}
    model = registry.create_model(NAME, **options).eval()
    state = SimpleNamespace(
        model=model,
        epoch=1,
        step=3,
        history=[],
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        callback_state={},
    )
    path = tmp_path / "final.pt"
    save_checkpoint(path, state, model_name=NAME, model_options=options, config={})
    blob = load_checkpoint(path)
    torch.manual_seed(1)  # a different init: the weights must come from the checkpoint
    rebuilt = build(blob["model"], blob["model_options"], blob["state_dict"]).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.inference_mode():
        torch.testing.assert_close(rebuilt(x), model(x))


def test_a_timm_resnet_has_its_blocks_found_in_the_graph():
    pytest.importorskip("timm")
    from resnet_lab.models.residual_graph import residual_blocks

    found = residual_blocks(registry.create_model(NAME, num_classes=10))
    assert [b.owner for b in found.blocks] == [f"layer{i}.0" for i in (1, 2, 3, 4)]
    assert [b.shortcut for b in found.blocks] == [()] + [
        (f"layer{i}.0.downsample",) for i in (2, 3, 4)
    ]


def _config():
    from resnet_lab.config import resolve

    return resolve("seed")
