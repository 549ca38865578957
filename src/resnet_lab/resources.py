"""Whether a model trains in the memory there is, asked before a single weight is allocated.

The model is built on PyTorch's ``meta`` device (shapes, no storage) and run once on a meta batch:
that gives the parameter count and every layer's output size without allocating either. A run
that would not fit is refused with the estimate and the fix, instead of growing until the machine
swaps or the kernel kills it (``--width 1000`` asked for 73 GB).
"""

from __future__ import annotations

from typing import Any

import torch

from .data.memory import check_fits, gib

CPU = torch.device("cpu")
# Bytes per parameter while training: fp32 weight, gradient, and up to two optimiser states (Adam).
BYTES_PER_PARAM = 16
# Bytes per element of a layer output: fp32, kept for the backward pass, plus the gradient flowing
# back through it (an upper-end rule of thumb; autograd frees most of it as it goes).
BYTES_PER_ACTIVATION = 8


def training_bytes(
    name: str, options: dict[str, Any], image_shape: tuple[int, ...], batch: int
) -> int | None:
    """Estimated bytes to train model ``name`` on batches of ``batch`` images; None when the model
    cannot be built on the meta device (a model of your own may need real tensors: not estimated)."""
    from .registry import create_model

    outputs: list[int] = []
    try:
        with torch.device("meta"):
            model = create_model(name, **options)
        hooks = [
            m.register_forward_hook(lambda m, i, o: outputs.append(o.numel()))
            for m in model.modules()
            if not list(m.children())
        ]
        with torch.no_grad():
            model(torch.empty(batch, *image_shape, device="meta"))
        for h in hooks:
            h.remove()
    except Exception:  # noqa: BLE001 - an estimate only: a model it cannot trace is simply not checked
        return None
    params = sum(p.numel() for p in model.parameters())
    return params * BYTES_PER_PARAM + sum(outputs) * BYTES_PER_ACTIVATION


def check_model_fits(
    name: str,
    options: dict[str, Any],
    image_shape: tuple[int, ...],
    batch: int,
    device: torch.device,
) -> None:
    """A one-line UserError with the estimate and the fix when training ``name`` would not fit in the
    memory of ``device`` (this machine's RAM, or the GPU's free memory)."""
    needed = training_bytes(name, options, image_shape, batch)
    if needed is None:
        return
    fix = "lower `model.width_mult` or `train.batch_size`, or choose a smaller model"
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        if needed > free:
            from .errors import UserError

            raise UserError(
                f"training {name} needs about {gib(needed)} but the GPU has {gib(free)} free; {fix}"
            )
        return
    check_fits(f"training {name} (batch {batch})", needed, fix)
