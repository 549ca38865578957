"""The initialisation schemes of ``init_weights``: delta_orthogonal, fixup, skipinit, and the old ones."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from resnet_lab.errors import UserError
from resnet_lab.models.cifar import cifar_net
from resnet_lab.models.layers import INITS, ResidualBlock, check_options
from resnet_lab.registry import create_model

NO_SKIP_MESSAGE = "needs residual blocks with skip connections"


def skip_blocks(model: nn.Module) -> list[ResidualBlock]:
    return [m for m in model.modules() if isinstance(m, ResidualBlock) and m.skip]


def test_check_options_accepts_the_new_inits():
    for init in ("delta_orthogonal", "fixup", "skipinit"):
        assert init in INITS
        check_options(norm="none", init=init, width_mult=1.0, input_size=32)


# --- delta_orthogonal ------------------------------------------------------------------------------


def assert_orthogonal(w: torch.Tensor, gain: float) -> None:
    """Rows (cout <= cin) or columns (cout > cin) orthonormal, times gain."""
    cout, cin = w.shape
    gram = w @ w.T if cout <= cin else w.T @ w
    torch.testing.assert_close(gram, gain**2 * torch.eye(min(cout, cin)), atol=1e-5, rtol=0)


@pytest.mark.parametrize("shortcut", ["A", "B"])
def test_delta_orthogonal_kernels_are_orthogonal_centre_taps(shortcut):
    torch.manual_seed(0)
    skip = shortcut == "B"  # B adds 1x1 projection convs, which must be orthogonal x gain too
    model = cifar_net(
        depth=8, skip=skip, shortcut=shortcut, init="delta_orthogonal", width_mult=0.5
    )
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert any(c.kernel_size == (1, 1) for c in convs) == skip
    for conv in convs:
        w = conv.weight.detach()
        k = w.shape[-1]
        centre = w[:, :, k // 2, k // 2]
        off_centre = w.clone()
        off_centre[:, :, k // 2, k // 2] = 0
        assert torch.count_nonzero(off_centre) == 0
        assert_orthogonal(centre, 2**0.5)
        if conv.bias is not None:
            assert torch.count_nonzero(conv.bias) == 0
    assert_orthogonal(model.fc.weight.detach(), 1.0)  # the classifier: gain 1, no ReLU after it
    assert torch.count_nonzero(model.fc.bias) == 0


# --- fixup ---------------------------------------------------------------------------------------


def test_fixup_zeroes_last_convs_and_classifier_and_scales_first_convs():
    torch.manual_seed(0)
    fixup = cifar_net(depth=20, skip=True, norm="none", init="fixup")
    torch.manual_seed(0)
    kaiming = cifar_net(depth=20, skip=True, norm="none", init="kaiming")
    blocks, he_blocks = skip_blocks(fixup), skip_blocks(kaiming)
    L = len(blocks)
    assert L == 9
    for block, he in zip(blocks, he_blocks):
        assert torch.count_nonzero(block.conv2.weight) == 0
        assert torch.count_nonzero(block.conv2.bias) == 0
        w = block.conv1.weight.detach()
        # Same draws as He init, scaled by L^(-1/2) ...
        torch.testing.assert_close(w, he.conv1.weight.detach() * L**-0.5)
        # ... so the std is He's sqrt(2 / fan_in) times L^(-1/2).
        fan_in = w[0].numel()
        assert w.std().item() == pytest.approx((2 / fan_in) ** 0.5 * L**-0.5, rel=0.1)
    assert torch.count_nonzero(fixup.fc.weight) == 0
    assert torch.count_nonzero(fixup.fc.bias) == 0
    # Every branch is 0 at init, so the output is exactly 0 (the zero classifier) and finite.
    out = fixup(torch.randn(2, 3, 32, 32))
    assert torch.count_nonzero(out) == 0


def test_fixup_keeps_he_init_on_projection_shortcuts():
    torch.manual_seed(0)
    fixup = cifar_net(depth=8, shortcut="B", norm="none", init="fixup")
    torch.manual_seed(0)
    kaiming = cifar_net(depth=8, shortcut="B", norm="none", init="kaiming")
    projections = [
        (b.shortcut[0], h.shortcut[0])
        for b, h in zip(skip_blocks(fixup), skip_blocks(kaiming))
        if isinstance(b.shortcut, nn.Sequential)
    ]
    assert projections
    for proj, he in projections:
        assert torch.equal(proj.weight, he.weight)


# --- skipinit ------------------------------------------------------------------------------------


def test_skipinit_alpha_is_a_trainable_zero_and_blocks_are_identity():
    torch.manual_seed(0)
    model = cifar_net(depth=8, width_mult=0.5, init="skipinit").eval()
    blocks = skip_blocks(model)
    assert len(blocks) == 3
    for block in blocks:
        assert isinstance(block.alpha, nn.Parameter)
        assert block.alpha.requires_grad and block.alpha.item() == 0.0
    x = model.features[0](torch.rand(2, 3, 32, 32))  # post-ReLU, so >= 0
    for layer in model.features[1:]:
        out = layer(x)
        if isinstance(layer, ResidualBlock):
            assert torch.equal(out, layer.relu_out(layer.shortcut(x)))
        x = out


def test_skipinit_alphas_get_gradients():
    torch.manual_seed(0)
    model = cifar_net(depth=8, width_mult=0.5, init="skipinit")
    loss = nn.functional.cross_entropy(model(torch.randn(4, 3, 32, 32)), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    alphas = [b.alpha for b in skip_blocks(model)]
    assert {id(a) for a in alphas} <= {id(p) for p in model.parameters()}  # seen by optimisers
    for alpha in alphas:
        assert alpha.grad is not None and torch.isfinite(alpha.grad) and alpha.grad.item() != 0


def test_skipinit_checkpoint_round_trip():
    torch.manual_seed(0)
    model = create_model("resnet20", width_mult=0.25, init="skipinit")
    with torch.no_grad():
        for i, block in enumerate(skip_blocks(model)):
            block.alpha.fill_(0.1 * (i + 1))  # as after some training
    state = model.state_dict()
    assert sum(k.endswith(".alpha") for k in state) == 9
    torch.manual_seed(1)
    again = create_model("resnet20", width_mult=0.25, init="skipinit")
    again.load_state_dict(state)  # strict: same keys, alpha included
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(model.eval()(x), again.eval()(x))


@pytest.mark.parametrize("init", ["fixup", "skipinit"])
def test_residual_inits_reject_plain_nets(init):
    with pytest.raises(ValueError, match=f"init '{init}' {NO_SKIP_MESSAGE}"):
        cifar_net(depth=8, skip=False, init=init)
    with pytest.raises(UserError, match=NO_SKIP_MESSAGE):
        create_model("plain20", init=init)


# --- the existing inits --------------------------------------------------------------------------

# Computed with the code before delta_orthogonal/fixup/skipinit were added (git HEAD at the time),
# under torch.manual_seed(0): cifar_net(depth=8, init=...)'s first conv weight sum and the sum of
# all its parameters. A change in the order of RNG draws changes these completely.
BEFORE = {
    "kaiming": (6.9981889724731445, 233.19572512262033),
    "xavier": (-8.61654281616211, 247.48261942895687),
    "orthogonal": (7.445767879486084, 240.22429711099326),
    "default": (-0.5913194417953491, 245.0000202629302),
}


@pytest.mark.parametrize("init", sorted(BEFORE))
def test_existing_inits_are_unchanged(init):
    torch.manual_seed(0)
    model = cifar_net(depth=8, init=init)
    first, total = BEFORE[init]
    assert model.features[0].conv.weight.sum().item() == pytest.approx(first, rel=1e-6)
    assert sum(p.double().sum().item() for p in model.parameters()) == pytest.approx(
        total, rel=1e-6
    )
    keys = model.state_dict().keys()
    assert len(keys) == 44 and not any("alpha" in k for k in keys)
    assert all(b.alpha is None for b in skip_blocks(model))


def test_fc_init_default_leaves_the_classifier_as_pytorch_draws_it_and_nothing_else_changes():
    """Issue 34's controlled pair: the same seed gives the same convolutions and BN either way;
    only the classifier differs (He's N(0, 2/fan_in) vs PyTorch's U(-1/sqrt(fan_in), ..))."""
    from resnet_lab.registry import architecture, create_model

    torch.manual_seed(0)
    he = create_model("resnet56", width_mult=0.5)
    torch.manual_seed(0)
    torch_fc = create_model("resnet56", width_mult=0.5, fc_init="default")
    a, b = he.state_dict(), torch_fc.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a if not k.startswith("fc."))
    fan_in = he.fc.weight.shape[1]
    assert he.fc.weight.std().item() == pytest.approx((2 / fan_in) ** 0.5, rel=0.15)
    bound = fan_in**-0.5
    assert torch_fc.fc.weight.abs().max().item() <= bound and torch_fc.fc.bias.abs().max() > 0
    assert architecture("resnet56", {"fc_init": "default"})["options"]["fc_init"] == "default"
    assert architecture("resnet56", {})["options"]["fc_init"] == "as_init"
    with pytest.raises(UserError, match="fixup zeroes the classifier"):
        create_model("resnet20", init="fixup", fc_init="default")


def test_fc_init_is_refused_in_one_line_by_a_model_without_it(capsys):
    from resnet_lab.cli import main

    assert (
        main(["compare", "--preset", "smoke", "--models", "deep_cnn", "--model.fc_init", "default"])
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "has no fc_init option" in err[0]
