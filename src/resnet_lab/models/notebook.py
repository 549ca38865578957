"""The residual network of the seed-004 notebook (``../shared/seeds/004_*.txt``).

Three residual blocks (conv3x3 -> BN -> ReLU -> conv3x3 -> BN, plus a 1x1 conv + BN shortcut in
*every* block, no ReLU after the addition), stacked by ``_make_layer``, then a Linear layer over the
flattened full-resolution map. The notebook checks it with a (32, 3, 28, 28) batch; CIFAR-10 is
32x32, so ``input_size`` selects which the Linear layer is sized for.

One deliberate change: the notebook reuses a single ``nn.BatchNorm2d`` for all three
normalisations in a block. A shared BN mixes the running statistics of three different tensors,
so its eval-mode output is wrong for all of them; here each normalisation has its own BN.

| model          | input_size | params    |
|----------------|-----------:|----------:|
| notebook_resnet| 28         | 697,354   |
| notebook_resnet| 32         | 850,954   |
"""

from __future__ import annotations

from torch import nn

from ..registry import register_model
from .layers import ConvNet, Init, ResidualBlock, check_options, init_weights, scaled


def _make_layer(
    block, num_residual_blocks: int, in_channels: int, out_channels: int, **block_options
) -> nn.Sequential:
    """Stack ``num_residual_blocks`` blocks; only the first changes the channel count."""
    layers = [
        block(in_channels if i == 0 else out_channels, out_channels, **block_options)
        for i in range(num_residual_blocks)
    ]
    return nn.Sequential(*layers)


@register_model("notebook_resnet")
def notebook_resnet(
    *,
    num_classes: int = 10,
    in_channels: int = 3,
    input_size: int = 32,
    width_mult: float = 1.0,
    init: Init = "default",
    skip: bool = True,
    num_blocks: int = 3,
) -> ConvNet:
    """The seed-004 notebook's ResNet: ``num_blocks`` BN residual blocks (3->64) + Linear.

    Accepts 28x28 (``input_size=28``, as in the notebook) or 32x32 (CIFAR-10) inputs.
    """
    check_options(norm="batch", init=init, width_mult=width_mult, input_size=input_size)
    if num_blocks < 1:
        raise ValueError(f"num_blocks must be >= 1, got {num_blocks}")
    channels = scaled(64, width_mult)
    features = _make_layer(
        ResidualBlock,
        num_blocks,
        in_channels,
        channels,
        norm="batch",
        skip=skip,
        projection="always",
        post_relu=False,
    )
    net = ConvNet(
        features,
        feature_shape=(channels, input_size, input_size),
        num_classes=num_classes,
        input_size=input_size,
    )
    return init_weights(net, init)
