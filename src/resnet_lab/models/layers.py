"""Building blocks shared by every model family, and the generic network class.

Every network in resnet-lab is a :class:`ConvNet`: a ``features`` stack of units/blocks, a
flatten, and one linear ``fc`` layer. Families differ only in what their builders put into
``features``, so a plain net and a residual net differ exactly where ``skip`` says they do.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .settings import FC_INITS, INITS, NORMS, FcInit, Init, Norm


def scaled(channels: int, width_mult: float) -> int:
    """Channel count scaled by ``width_mult``, at least 1."""
    return max(1, round(channels * width_mult))


def _norm(kind: Norm, channels: int) -> nn.Module:
    return nn.BatchNorm2d(channels) if kind == "batch" else nn.Identity()


class ConvUnit(nn.Module):
    """conv3x3 -> [BN] -> ReLU: one layer of a plain CNN."""

    def __init__(self, cin: int, cout: int, *, stride: int = 1, norm: Norm = "none"):
        super().__init__()
        # A conv followed by BN needs no bias (BN's shift replaces it); without BN keep the
        # bias, as the seed's nn.Conv2d(...) calls do.
        self.conv = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=norm == "none")
        self.bn = _norm(norm, cout)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class PadShortcut(nn.Module):
    """He et al.'s option A: identity shortcut that subsamples by ``stride`` and zero-pads the new
    channels. It has no parameters, so plain and residual nets of one depth have equal counts."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.stride, self.extra = stride, cout - cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        lo = self.extra // 2
        return nn.functional.pad(x, (0, 0, 0, 0, lo, self.extra - lo))


class ResidualBlock(nn.Module):
    """Two 3x3 convs with an optional skip connection (He et al. 2015, Fig. 2).

    ``skip=False`` gives the same two convs without the addition (the "plain" counterpart).
    ``projection``: ``"when_needed"`` (option B) uses a 1x1 conv (+BN) shortcut only where the shape
    changes (identity otherwise, as the seed draws it); ``"pad"`` (option A) uses a parameter-free
    zero-padded identity there; ``"always"`` uses the 1x1 conv in every block (the seed-004
    notebook). ``post_relu``: apply ReLU after the addition (He et al.; the notebook omits it).

    ``alpha``: SkipInit's learnable scalar on the residual branch, ``post_relu(shortcut(x) +
    alpha * branch(x))``. It is ``None`` (no parameter, no state_dict entry) unless
    ``init_weights(model, "skipinit")`` sets it, so other inits' models are unchanged.
    """

    def __init__(
        self,
        cin: int,
        cout: int,
        *,
        stride: int = 1,
        norm: Norm = "none",
        skip: bool = True,
        projection: str = "when_needed",
        post_relu: bool = True,
    ):
        super().__init__()
        if projection not in ("when_needed", "pad", "always"):
            raise ValueError(
                f"projection must be 'when_needed', 'pad' or 'always', got {projection!r}"
            )
        self.skip = skip
        self.post_relu = post_relu
        bias = norm == "none"
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=bias)
        self.bn1 = _norm(norm, cout)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=bias)
        self.bn2 = _norm(norm, cout)
        needs_projection = stride != 1 or cin != cout or projection == "always"
        if projection == "pad" and cout < cin:
            raise ValueError(
                "a zero-padding shortcut cannot reduce channels; use projection='when_needed'"
            )
        self.shortcut: nn.Module = nn.Identity()
        if skip and needs_projection and projection == "pad":
            self.shortcut = PadShortcut(cin, cout, stride)
        elif skip and needs_projection:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=bias), _norm(norm, cout)
            )
        self.relu_out = nn.ReLU() if post_relu else nn.Identity()
        # An empty slot, not a parameter: a None parameter is in neither parameters() nor the
        # state_dict, so models built without skipinit keep their keys and parameter counts.
        self.register_parameter("alpha", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        if self.skip:
            if self.alpha is not None:
                out = self.alpha * out
            out = out + self.shortcut(x)
        return self.relu_out(out)


class ConvNet(nn.Module):
    """The one generic network: ``features`` -> flatten -> ``fc``.

    The linear head sees the whole flattened map (as all the seed models do), so its size is
    fixed by ``input_size``; a mismatched input is rejected with a clear message.
    """

    def __init__(
        self,
        features: nn.Sequential,
        *,
        feature_shape: tuple[int, int, int],
        num_classes: int,
        input_size: int,
    ):
        super().__init__()
        self.features = features
        self.input_size = input_size
        self.fc = nn.Linear(math.prod(feature_shape), num_classes)
        # The size check runs as a hook, not in forward, so that torch.fx can trace forward
        # (models/residual_graph.py reads the blocks from the graph; an `if` on a shape cannot be traced).
        self.register_forward_pre_hook(_check_input_size, with_kwargs=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.features(x), 1))


def _check_input_size(model: ConvNet, args: tuple, kwargs: dict) -> None:
    x = args[0] if args else kwargs["x"]
    if x.shape[-1] != model.input_size or x.shape[-2] != model.input_size:
        raise ValueError(
            f"this model was built for {model.input_size}x{model.input_size} inputs, got "
            f"{tuple(x.shape[-2:])}; rebuild it with input_size={x.shape[-1]}"
        )


def _skip_blocks(model: nn.Module, scheme: str) -> list[ResidualBlock]:
    """The residual blocks with a skip connection; schemes that act on them need at least one."""
    blocks = [m for m in model.modules() if isinstance(m, ResidualBlock) and m.skip]
    if not blocks:
        raise ValueError(
            f"init {scheme!r} needs residual blocks with skip connections (skip=True); "
            "use kaiming or delta_orthogonal for plain nets"
        )
    return blocks


def _delta_orthogonal_(weight: torch.Tensor, gain: float) -> None:
    """Zero every tap of a conv kernel except the centre one, which is an orthogonal matrix."""
    cout, cin, kh, kw = weight.shape
    centre = torch.empty(cout, cin)
    # orthogonal_ on a rectangular matrix makes its rows (cout <= cin) or columns (cout > cin)
    # orthonormal; scaled by gain.
    nn.init.orthogonal_(centre, gain=gain)
    with torch.no_grad():
        weight.zero_()
        weight[:, :, kh // 2, kw // 2] = centre


def init_weights(model: nn.Module, scheme: Init, fc_init: FcInit = "as_init") -> nn.Module:
    """Re-initialise conv and linear weights in place; biases to zero (except ``default``).
    ``fc_init="default"`` leaves the classifier (``model.fc``, else the last linear layer) with
    PyTorch's own init whatever the scheme (issue 34); every other weight is drawn as without it,
    so the same seed gives the same convolutions either way.

    ``default`` keeps PyTorch's own init (kaiming_uniform with a=sqrt(5), i.e. a weight variance of
    1/(3 fan_in)): the scheme under which the seed's deep plain net fails. ``kaiming`` is He et al.
    2015's N(0, 2/fan_in), which keeps ReLU activations' variance constant with depth.

    - ``delta_orthogonal``: Xiao et al. 2018 (dynamical isometry in CNNs): each kxk kernel is zero
      but for its centre tap, an orthogonal (cout, cin) matrix times the ReLU gain sqrt(2); the
      linear layers are orthogonal with gain 1. Meant for plain nets.
    - ``fixup``: Zhang, Dauphin & Ma 2019: He init, then each residual branch's first conv scaled
      by L^(-1/2) (L = blocks with skip; m = 2 layers per branch), its last conv and the classifier
      zeroed, so every block is the identity at init. Initialisation only: Fixup's scalar biases and
      multipliers are not added. Raises ValueError for a net without skip blocks.
    - ``skipinit``: De & Smith 2020: He init, and each skip block gets a learnable scalar ``alpha``
      = 0 on its branch (``ResidualBlock.alpha``), so every block is the identity at init (the
      effect BatchNorm has on deep residual nets). Raises ValueError for a net without skip blocks.
    """
    if scheme not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {scheme!r}")
    if fc_init not in FC_INITS:
        raise ValueError(f"fc_init must be one of {FC_INITS}, got {fc_init!r}")
    if scheme == "fixup" and fc_init == "default":
        raise ValueError("fixup zeroes the classifier; fc_init 'default' contradicts it: drop one")
    if scheme == "default":
        return model
    keep = _classifier(model) if fc_init == "default" else None
    # Validate before drawing anything, so a rejected model is left untouched.
    blocks = _skip_blocks(model, scheme) if scheme in ("fixup", "skipinit") else []
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)) and m is not keep:
            _draw(m, scheme)
    if scheme == "fixup":
        # Fixup's rule L^(-1/(2m-2)) with m = 2 convs per branch; the zeroed last conv makes each
        # branch output 0 at init, and the scaling bounds the update each branch gets in SGD.
        # Projection shortcuts keep their He init.
        scale = len(blocks) ** -0.5
        fc = _classifier(model)
        with torch.no_grad():
            for block in blocks:
                block.conv1.weight.mul_(scale)
                nn.init.zeros_(block.conv2.weight)
            nn.init.zeros_(fc.weight)
            if fc.bias is not None:
                nn.init.zeros_(fc.bias)
    elif scheme == "skipinit":
        for block in blocks:
            w = block.conv1.weight
            block.alpha = nn.Parameter(torch.zeros((), dtype=w.dtype, device=w.device))
    return model


def _draw(m: nn.Conv2d | nn.Linear, scheme: Init) -> None:
    """One layer's weights by ``scheme`` (not ``default``), its bias zero."""
    relu_gain = nn.init.calculate_gain("relu")
    # fixup and skipinit start from He init; they differ from it only in init_weights' later steps.
    if scheme in ("kaiming", "fixup", "skipinit"):
        nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
    elif scheme == "xavier":
        nn.init.xavier_uniform_(m.weight, gain=relu_gain)
    elif scheme == "orthogonal":
        nn.init.orthogonal_(m.weight, gain=relu_gain)
    elif isinstance(m, nn.Conv2d):  # delta_orthogonal; a 1x1 conv is its own centre tap
        _delta_orthogonal_(m.weight, relu_gain)
    else:
        # delta_orthogonal's linear layers: gain 1, since no ReLU follows the classifier.
        nn.init.orthogonal_(m.weight, gain=1.0)
    if m.bias is not None:
        nn.init.zeros_(m.bias)


def _classifier(model: nn.Module) -> nn.Linear:
    """The classifier: ``model.fc``, else the last linear layer."""
    if isinstance(getattr(model, "fc", None), nn.Linear):
        return model.fc
    return [m for m in model.modules() if isinstance(m, nn.Linear)][-1]


def check_options(*, norm: str, init: str, width_mult: float, input_size: int) -> None:
    """Shared validation of builder options, with messages that say the fix."""
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    if not width_mult > 0:
        raise ValueError(f"width_mult must be > 0, got {width_mult}")
    if input_size < 8 or input_size % 4:
        raise ValueError(f"input_size must be a multiple of 4 and >= 8, got {input_size}")
