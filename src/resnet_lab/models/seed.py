"""The three networks of the seed experiment (``../shared/docs/BACKGROUND.md`` section 1), and the
controlled partner of its ResNet (``resnet_seed_plain``, the same net without skips).

Drawn as the seed draws them: no BatchNorm by default, ReLU after every conv, 2x2 max-pooling in
the plain nets, stride-2 convs at the ResNet's stage changes, a 1x1 projection shortcut only where
the shape changes, and a linear layer over the flattened final map. ``width_mult`` scales every
channel count (1.0 = the seed's widths; 0.25 = the CPU-scale ``quick`` preset).

Parameter counts (10 classes, 32x32 inputs, tested against ``tests/test_models.py``):

| model       | width_mult | convs | params     |
|-------------|-----------:|------:|-----------:|
| simple_cnn  | 1.0        | 3     | 175,178    |
| simple_cnn  | 0.25       | 3     | 26,522     |
| deep_cnn    | 1.0        | 10    | 1,567,626  |
| deep_cnn    | 0.25       | 10    | 129,258    |
| resnet_seed | 1.0        | 15    | 2,936,714  |
| resnet_seed | 0.25       | 15    | 215,018    |
| resnet_seed_plain | 1.0  | 13    | 2,895,370  |
| resnet_seed_plain | 0.25 | 13    | 212,362    |

The seed calls ``resnet_seed`` a "10-layer ResNet"; as drawn (a stem conv and six two-conv
blocks) it has 13 convs on its main path plus 2 projection convs. Its FLOPs per image agree with
the seed's measured ~2.5 GFLOP per training step only with this layout (BACKGROUND.md section 4).
"""

from __future__ import annotations

from torch import nn

from ..registry import register_model, register_variant
from .layers import (
    ConvNet,
    ConvUnit,
    Init,
    Norm,
    ResidualBlock,
    check_options,
    init_weights,
    scaled,
)


@register_model("simple_cnn")
def simple_cnn(
    *,
    num_classes: int = 10,
    in_channels: int = 3,
    input_size: int = 32,
    width_mult: float = 1.0,
    norm: Norm = "none",
    init: Init = "default",
) -> ConvNet:
    """SimpleCNN_CIFAR10: Conv(3->32) ReLU Pool -> Conv(32->64) ReLU Pool -> Conv(64->128) ReLU -> FC.

    The shallow baseline (3 convs). Parameters: see the module docstring's table.
    """
    check_options(norm=norm, init=init, width_mult=width_mult, input_size=input_size)
    c1, c2, c3 = (scaled(c, width_mult) for c in (32, 64, 128))
    features = nn.Sequential(
        ConvUnit(in_channels, c1, norm=norm),
        nn.MaxPool2d(2),
        ConvUnit(c1, c2, norm=norm),
        nn.MaxPool2d(2),
        ConvUnit(c2, c3, norm=norm),
    )
    side = input_size // 4
    net = ConvNet(
        features, feature_shape=(c3, side, side), num_classes=num_classes, input_size=input_size
    )
    return init_weights(net, init)


@register_model("deep_cnn")
def deep_cnn(
    *,
    num_classes: int = 10,
    in_channels: int = 3,
    input_size: int = 32,
    width_mult: float = 1.0,
    norm: Norm = "none",
    init: Init = "default",
) -> ConvNet:
    """DeepCNN_CIFAR10: 10 plain convs, no BatchNorm by default.

    Conv(3->64) ReLU -> 4x Conv(64->64) ReLU -> Pool -> 3x Conv(->128) ReLU -> Pool ->
    2x Conv(->256) ReLU -> FC. With PyTorch's default init its activations shrink layer by layer
    and SGD leaves it at loss ln 10 (the failure the seed reports).
    """
    check_options(norm=norm, init=init, width_mult=width_mult, input_size=input_size)
    c1, c2, c3 = (scaled(c, width_mult) for c in (64, 128, 256))
    layers: list[nn.Module] = [ConvUnit(in_channels, c1, norm=norm)]
    layers += [ConvUnit(c1, c1, norm=norm) for _ in range(4)]
    layers += [nn.MaxPool2d(2), ConvUnit(c1, c2, norm=norm)]
    layers += [ConvUnit(c2, c2, norm=norm) for _ in range(2)]
    layers += [nn.MaxPool2d(2), ConvUnit(c2, c3, norm=norm), ConvUnit(c3, c3, norm=norm)]
    side = input_size // 4
    net = ConvNet(
        nn.Sequential(*layers),
        feature_shape=(c3, side, side),
        num_classes=num_classes,
        input_size=input_size,
    )
    return init_weights(net, init)


@register_model("resnet_seed")
def resnet_seed(
    *,
    num_classes: int = 10,
    in_channels: int = 3,
    input_size: int = 32,
    width_mult: float = 1.0,
    norm: Norm = "none",
    init: Init = "default",
    skip: bool = True,
) -> ConvNet:
    """ResNet_CIFAR10: Conv(3->64) -> 2x ResBlock(64) -> 2x ResBlock(->128) -> 2x ResBlock(->256) -> FC.

    No BatchNorm by default. ``skip=False`` removes the additions (and with them the projection
    convs), giving the same-depth plain control network.
    """
    check_options(norm=norm, init=init, width_mult=width_mult, input_size=input_size)
    c1, c2, c3 = (scaled(c, width_mult) for c in (64, 128, 256))

    def block(cin: int, cout: int, stride: int = 1) -> ResidualBlock:
        return ResidualBlock(cin, cout, stride=stride, norm=norm, skip=skip)

    features = nn.Sequential(
        ConvUnit(in_channels, c1, norm=norm),
        block(c1, c1),
        block(c1, c1),
        block(c1, c2, 2),
        block(c2, c2),
        block(c2, c3, 2),
        block(c3, c3),
    )
    side = input_size // 4
    net = ConvNet(
        features, feature_shape=(c3, side, side), num_classes=num_classes, input_size=input_size
    )
    return init_weights(net, init)


# The controlled partner of resnet_seed: the same network with the additions (and so the two
# projection convs) removed. It differs from resnet_seed in the skips alone, which the seed's
# DeepCNN does not (10 convs vs 13 + 2, max-pooling vs stride-2 convs, 1.6M vs 2.9M parameters).
register_variant("resnet_seed_plain", resnet_seed, skip=False)
