"""Residual blocks found from the traced graph (models/residual_graph.py) and what uses them: the
shortcut labels of the diagnostics, the main-path depth, the residual/plain family and the lesion."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from resnet_lab.diagnostics.hooks import measure_layers
from resnet_lab.mechanisms.common import describe, has_skips
from resnet_lab.mechanisms.lesion import ShortcutOnly, deleted, lesion, plan, units_of
from resnet_lab.models.layers import ResidualBlock
from resnet_lab.models.paths import on_shortcut, shortcut_modules
from resnet_lab.models.residual_graph import Block, residual_blocks
from resnet_lab.registry import create_model, list_models


class AddBlock(nn.Module):
    """A block of one's own, written as ``x + f(x)`` with no shortcut module at all."""

    def __init__(self, channels: int = 4):
        super().__init__()
        self.f = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.f(x)


class Gated(nn.Module):
    """Untraceable (an ``if`` on a tensor's value), with its shortcut named as the convention says."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU())
        self.shortcut = nn.Conv2d(4, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:
            x = x * 2
        return self.body(x) + self.shortcut(x)


class PlusConstant(nn.Module):
    """Additions that are not residual: a learned offset, and two paths from different inputs."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 4)
        self.offset = nn.Parameter(torch.zeros(4))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.a(x) + self.offset + self.b(y)


@pytest.mark.parametrize("builder,blocks", [("resnet18", 8), ("resnet34", 16)])
def test_torchvision_resnets_have_their_blocks_with_downsample_as_the_shortcut(builder, blocks):
    model = getattr(torchvision.models, builder)(num_classes=10)
    found = residual_blocks(model)
    assert len(found.blocks) == blocks and not found.untraced
    expected = [
        n for n, m in model.named_modules() if isinstance(m, torchvision.models.resnet.BasicBlock)
    ]
    assert [b.owner for b in found.blocks] == expected
    downsampling = {b.owner for b in found.blocks if b.shortcut}
    assert downsampling == {"layer2.0", "layer3.0", "layer4.0"}
    for b in found.blocks:
        assert b.shortcut == ((f"{b.owner}.downsample",) if b.owner in downsampling else ())
        assert b.branch == tuple(f"{b.owner}.{n}" for n in ("conv1", "bn1", "relu", "conv2", "bn2"))
        assert b.branch_output == f"{b.owner}.bn2"


def test_a_block_written_as_x_plus_f_of_x_is_found_at_any_level():
    assert residual_blocks(AddBlock()).blocks == (Block("", ("f",), (), "f.1"),)
    nested = nn.Sequential(nn.Conv2d(3, 4, 3), AddBlock(), nn.ReLU())
    assert residual_blocks(nested).blocks == (Block("1", ("1.f",), (), "1.f.1"),)


@pytest.mark.parametrize("name", list_models())
def test_every_registered_family_gives_the_blocks_of_its_naming_convention(name):
    model = create_model(name)
    found = residual_blocks(model)
    skip_blocks = {
        n: m for n, m in model.named_modules() if isinstance(m, ResidualBlock) and m.skip
    }
    assert [b.owner for b in found.blocks] == list(skip_blocks)
    named_shortcuts = {
        f"{n}.shortcut" for n, m in skip_blocks.items() if not isinstance(m.shortcut, nn.Identity)
    }
    assert found.shortcut_modules == named_shortcuts
    # Every registered model traces whole (ConvNet checks its input size in a hook, not in forward).
    assert found.untraced == ()
    assert has_skips(model) == bool(skip_blocks)
    names = [n for n, _ in model.named_modules()]
    assert [on_shortcut(n, shortcut_modules(model)) for n in names] == [
        on_shortcut(n) for n in names
    ]


def test_plain_nets_and_additions_that_are_not_residual_give_no_blocks():
    plain = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.ReLU())
    assert residual_blocks(plain).blocks == ()
    assert residual_blocks(PlusConstant()).blocks == ()
    assert not has_skips(create_model("resnet_seed_plain"))


def test_an_untraceable_model_falls_back_to_the_naming_convention_with_a_one_line_reason(capsys):
    found = residual_blocks(Gated())
    note = capsys.readouterr().err.strip()
    assert note.startswith("resnet-lab: note: Gated cannot be traced with torch.fx (TraceError")
    assert "\n" not in note and "naming convention" in note
    assert found.blocks == (Block("", ("body",), ("shortcut",)),)
    (untraced,) = found.untraced
    assert untraced.module == "" and "\n" not in untraced.reason
    assert untraced.reason.startswith("TraceError: ")


def test_diagnostics_label_torchvision_downsample_convs_as_shortcut_layers():
    model = torchvision.models.resnet18(num_classes=10)
    x, y = torch.randn(2, 3, 32, 32), torch.tensor([1, 2])
    layers = measure_layers(model, x, y)["layers"]
    by_name = {l["name"]: l["module"] for l in layers}
    assert [by_name[f"proj{i}"] for i in (1, 2, 3)] == [
        f"layer{k}.0.downsample.0" for k in (2, 3, 4)
    ]
    assert len([n for n in by_name if n.startswith("conv")]) == 17
    assert describe(model) == {"family": "residual", "depth": 18}


def _resnet18_and_data():
    model = torchvision.models.resnet18(num_classes=10).eval()
    g = torch.Generator().manual_seed(0)
    return model, torch.randn(8, 3, 32, 32, generator=g), torch.randint(0, 10, (8,), generator=g)


def test_lesion_deletes_torchvision_blocks_down_to_their_shortcut():
    model, x, _ = _resnet18_and_data()
    assert units_of(model) == [f"layer{s}.{i}" for s in (1, 2, 3, 4) for i in (0, 1)]
    table, swaps = plan(model, x)
    rows = {u["module"]: u for u in table}
    assert rows["layer1.0"]["deleted_as"] == "identity shortcut"
    assert rows["layer2.0"]["deleted_as"] == "projection shortcut"
    assert rows["layer2.0"]["changes_shape"] and all(u["deletable"] for u in table)
    with torch.inference_mode():
        intact = model(x)
        with deleted(model, {}):
            untouched = model(x)
        with deleted(model, {"layer3.1": swaps["layer3.1"]}):
            lesioned = model(x)
        assert isinstance(model.layer3[1], torchvision.models.resnet.BasicBlock)  # restored
        torch.testing.assert_close(model(x), intact)
        # The stand-in is the block with its branch gone: relu(downsample(x) + 0).
        block, h = model.layer2[0], torch.randn(2, 64, 8, 8)
        torch.testing.assert_close(
            ShortcutOnly(block, ("bn2",))(h), torch.relu(block.downsample(h))
        )
    torch.testing.assert_close(untouched, intact)
    assert (lesioned - intact).abs().max() > 1e-3


def test_lesion_runs_on_torchvision_resnet18_and_leaves_it_as_it_was():
    model, x, y = _resnet18_and_data()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    result = lesion(model, x, y, draws=1)
    assert result["n_deletable"] == 8 and all(u["residual"] for u in result["units"])
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, state[k])


def test_a_block_of_ones_own_is_deleted_down_to_its_identity():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), AddBlock(), nn.ReLU()).eval()
    x = torch.randn(4, 3, 8, 8)
    assert units_of(model) == ["1"]
    (row,), swaps = plan(model, x)
    assert row["deletable"] and row["deleted_as"] == "identity shortcut"
    with torch.inference_mode(), deleted(model, swaps):
        torch.testing.assert_close(model(x), torch.relu(model[0](x)))  # relu(x + 0)
