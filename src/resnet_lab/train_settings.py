"""The optimiser and training settings (config sections ``optim:`` and ``train:``): their types,
defaults, help and checks, beside train.py, which uses them. Torch-free."""

from __future__ import annotations

import os
import typing
from dataclasses import dataclass
from typing import Literal

from .errors import UserError
from .fields import one_of, positive, setting

Optimizer = Literal["sgd", "adam"]
Device = Literal["auto", "cpu", "cuda"]
AmpMode = Literal["auto", "bf16", "off"]
OPTIMIZERS = typing.get_args(Optimizer)
DEVICES = typing.get_args(Device)
AMP_MODES = typing.get_args(AmpMode)


@dataclass(frozen=True)
class OptimConfig:
    name: Optimizer = setting(
        "sgd", "sgd (with momentum) or adam", flag="--optimizer", what="optimizer"
    )
    lr: float = setting(
        0.01,
        "learning rate (constant, except in the paper presets' step schedule)",
        flag="--lr",
    )
    momentum: float = setting(0.9, "SGD momentum", flag="--momentum")
    weight_decay: float = setting(0.0, "L2 weight decay", flag="--weight-decay")
    milestones: tuple[int, ...] = setting(
        (),
        "optimiser steps at which the lr is multiplied by optim.gamma, e.g. 32000,48000 "
        "(none: constant)",
        metavar="STEP,...",
    )
    gamma: float = setting(0.1, "factor of the lr at each milestone")
    # He et al.'s warm-up for their 110-layer net (section 4.2).
    warmup_lr: float | None = setting(
        None,
        "lr until the training error is below optim.warmup_until_error (He et al.'s warm-up; "
        "unset: none)",
    )
    warmup_until_error: float = setting(80.0, "training error (%) that ends the warm-up")
    warmup_min_depth: int = setting(
        110, "the warm-up applies only to nets with this many main-path weight layers or more"
    )


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = setting(20, "epochs per model", flag="--epochs", metavar="N")
    batch_size: int = setting(
        128,
        "training batch size; under torchrun the global batch, split evenly over the processes",
        flag="--batch-size",
        metavar="N",
    )
    eval_batch_size: int = setting(1000, "batch size of evaluations (no gradients)", metavar="N")
    device: Device = setting("auto", "auto picks CUDA when available", flag="--device")
    seed: int = setting(0, "seed for init, data order and augmentation", flag="--seed")
    channels_last: bool = setting(
        True,  # NHWC convs: measured 1.2-2x faster on the 2-core CPU (docs/performance.md)
        "NHWC memory layout for the convolutions",
        switch=("--no-channels-last", False, "keep the default NCHW memory layout"),
    )
    # bf16 autocast of forward pass and loss (weights, gradients and optimiser stay fp32); auto keeps
    # CPU runs at the seed's fp32 numerics.
    amp: AmpMode = setting(
        "auto",
        "bf16 autocast: auto = on for CUDA GPUs, off on CPUs (fp32 as in 2015); bf16 forces it on "
        "(much faster on CPUs with AMX, see docs/performance.md)",
        flag="--amp",
        what="amp mode",
    )
    compile: bool = setting(
        False,
        "torch.compile the model for training steps",
        switch=(
            "--compile",
            True,
            (
                "torch.compile the model for training steps (worth it on a GPU; the first steps are "
                "slow while it compiles)"
            ),
        ),
    )
    # DDP's default (each rank's slice) is cheaper but the statistics of a smaller batch.
    sync_bn: bool = setting(
        False,
        "under torchrun: BatchNorm statistics over the global batch",
        switch=(
            "--sync-bn",
            True,
            (
                "under torchrun: BatchNorm statistics over the global batch (SyncBatchNorm, CUDA only) "
                "instead of each process's slice (DDP's default: cheaper, statistics of a smaller batch)"
            ),
        ),
    )
    threads: int = setting(
        0, "CPU threads for torch (0: one per core)", flag="--threads", metavar="N"
    )
    tensorboard: bool = setting(
        True,
        "write TensorBoard event files",
        switch=("--no-tensorboard", False, "do not write TensorBoard event files"),
    )
    diagnostics: bool = setting(
        True,
        "record per-layer statistics during training (diagnostics.jsonl)",
        switch=("--no-diagnostics", False, "do not record per-layer statistics during training"),
    )
    diag_every: int = setting(  # overhead: docs/diagnostics.md
        100, "record per-layer statistics every N optimiser steps", flag="--diag-every", metavar="N"
    )
    max_steps: int | None = setting(
        None,
        "stop after this many optimiser steps (the paper counts iterations; unset: all epochs)",
        metavar="N",
    )
    stop_after_escape: int | None = setting(
        None,
        "end each run this many steps after its training loss left ln C (the escape step, "
        "src/resnet_lab/escape.py): for studies that need only when a net starts learning "
        "(unset: train all epochs)",
        flag="--stop-after-escape",
        metavar="STEPS",
    )
    checkpoint_every: int = setting(
        1,
        "write the resumable checkpoint every N epochs",
        flag="--checkpoint-every",
        metavar="N",
    )
    clean_train_images: int = setting(
        0,
        "after every epoch also evaluate N fixed training images in eval mode without "
        "augmentation: the clean training error (He et al. Fig. 6); 0 = off",
        flag="--clean-train-images",
        metavar="N",
    )


def check_optim_config(cfg: OptimConfig) -> None:
    """The optimiser settings' values."""
    one_of("optimizer", cfg.name, OPTIMIZERS)
    positive("learning rate", cfg.lr)
    if cfg.weight_decay < 0 or not 0 <= cfg.momentum < 1:
        raise UserError("weight decay must be >= 0 and momentum in [0, 1); fix those values")
    if any(m < 1 for m in cfg.milestones) or list(cfg.milestones) != sorted(cfg.milestones):
        raise UserError(
            f"milestones must be increasing positive step numbers, got {list(cfg.milestones)}"
        )
    if cfg.warmup_lr is not None and cfg.warmup_lr <= 0:
        raise UserError("warmup_lr must be > 0 (or unset for no warm-up)")


def check_train_config(cfg: TrainConfig) -> None:
    """The training settings' values."""
    one_of("amp mode", cfg.amp, AMP_MODES)
    one_of("device", cfg.device, DEVICES)
    if cfg.threads < 0:
        raise UserError("threads must be >= 0 (0 = torch's default); fix that value")
    cores = os.cpu_count() or 1
    if cfg.threads > cores:  # torch tries to start them all: out of memory, or a crash
        raise UserError(
            f"threads {cfg.threads} is more than this machine's {cores} cores; pass at most {cores} "
            "(0 = one per core)"
        )
    for key, value in (
        ("epochs", cfg.epochs),
        ("batch size", cfg.batch_size),
        ("eval batch size", cfg.eval_batch_size),
    ):
        positive(key, value)
    if cfg.checkpoint_every < 1:
        raise UserError(f"checkpoint_every must be >= 1 epoch, got {cfg.checkpoint_every}")
    if cfg.diag_every < 1:
        raise UserError(
            f"diag_every must be >= 1, got {cfg.diag_every}; use `train.diagnostics=false` to turn recording off"
        )
    if cfg.max_steps is not None and cfg.max_steps < 1:
        raise UserError(f"max_steps must be >= 1, got {cfg.max_steps}")
    if cfg.stop_after_escape is not None and cfg.stop_after_escape < 0:
        raise UserError(
            f"stop_after_escape must be >= 0 steps (or unset: train all epochs), got {cfg.stop_after_escape}"
        )
    if cfg.clean_train_images < 0:
        raise UserError(
            f"clean_train_images must be >= 0 (0 = off), got {cfg.clean_train_images}; fix that value"
        )
