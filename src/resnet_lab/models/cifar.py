"""He et al. 2015's CIFAR-10 networks (section 4.2): depth 6n+2, plain or residual.

A 3x3 conv (16 channels), three stages of n two-conv blocks on 32x32, 16x16 and 8x8 maps with 16,
32 and 64 filters (stride-2 convs where the stage changes), global average pooling, a 10-way FC.
BatchNorm after every conv, He (Kaiming) initialisation. ``plainN`` and ``resnetN`` are built by the
same function and differ only in ``skip``. With the paper's CIFAR shortcut, option A (identity,
zero-padded channels), they have the same parameters; option B uses 1x1 projections where the
shape changes.

Parameter counts (option A, 10 classes; the paper's Table 6 rounds them to 0.27M, 0.46M, 0.66M, 0.85M,
1.7M; option B adds 2,752 for the two projections):

| model     | convs | params    |
|-----------|------:|----------:|
| resnet20  | 19    | 269,722   |
| resnet32  | 31    | 464,154   |
| resnet44  | 43    | 658,586   |
| resnet56  | 55    | 853,018   |
| resnet110 | 109   | 1,727,962 |
| plain20   | 19    | 269,722   |
| plain32   | 31    | 464,154   |
| plain44   | 43    | 658,586   |
| plain56   | 55    | 853,018   |
| plain110  | 109   | 1,727,962 |
| cifar_net | 19    | 269,722   |
"""

from __future__ import annotations

from torch import nn

from ..registry import register_model, register_variant
from .layers import ConvNet, ConvUnit, Init, ResidualBlock, check_options, init_weights, scaled
from .settings import MAX_DEPTH, FcInit

PAPER_DEPTHS = (20, 32, 44, 56, 110)
# He et al.'s deepest CIFAR net; deeper ones take minutes just to build and gigabytes to train.
SHORTCUTS = {"A": "pad", "B": "when_needed"}


def cifar_net(
    *,
    depth: int = 20,
    skip: bool = True,
    shortcut: str = "A",
    num_classes: int = 10,
    in_channels: int = 3,
    input_size: int = 32,
    width_mult: float = 1.0,
    init: Init = "kaiming",
    norm: str = "batch",
    fc_init: FcInit = "as_init",
) -> ConvNet:
    """A depth-(6n+2) CIFAR net: ``skip`` True for the ResNet, False for the plain net."""
    check_options(norm=norm, init=init, width_mult=width_mult, input_size=input_size)
    if depth < 8 or (depth - 2) % 6 or depth > MAX_DEPTH:
        raise ValueError(
            f"depth must be 6n+2 between 8 and {MAX_DEPTH} (20, 32, 44, 56, 110, ...), got {depth}"
        )
    if shortcut not in SHORTCUTS:
        raise ValueError(
            f"shortcut must be 'A' (zero-padded identity) or 'B' (1x1 projection), got {shortcut!r}"
        )
    n = (depth - 2) // 6
    widths = [scaled(c, width_mult) for c in (16, 32, 64)]
    layers: list[nn.Module] = [ConvUnit(in_channels, widths[0], norm=norm)]
    cin = widths[0]
    for stage, cout in enumerate(widths):
        for i in range(n):
            stride = 2 if stage > 0 and i == 0 else 1
            layers.append(
                ResidualBlock(
                    cin, cout, stride=stride, norm=norm, skip=skip, projection=SHORTCUTS[shortcut]
                )
            )
            cin = cout
    layers.append(nn.AdaptiveAvgPool2d(1))
    net = ConvNet(
        nn.Sequential(*layers),
        feature_shape=(cin, 1, 1),
        num_classes=num_classes,
        input_size=input_size,
    )
    return init_weights(net, init, fc_init)


register_model("cifar_net")(cifar_net)


# plainN / resnetN are cifar_net with depth and skip fixed by the name (so a report knows plain20
# and resnet20 differ in the skips alone).
for _depth in PAPER_DEPTHS:
    register_variant(f"resnet{_depth}", cifar_net, depth=_depth, skip=True)
    register_variant(f"plain{_depth}", cifar_net, depth=_depth, skip=False)
del _depth
