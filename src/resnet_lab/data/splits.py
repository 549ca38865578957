"""Train / validation / test splits of a loaded data set, and the per-channel normalisation."""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import UserError, note_once
from .cache import default_cache_dir
from .settings import DataConfig, check_data_config
from .sources import load_cifar10, load_imagefolder, make_synthetic
from .tensors import DataSplits


def load_data(cfg: DataConfig) -> DataSplits:
    """Load ``cfg.dataset`` and split off the validation set. Raises UserError on bad input."""
    check_data_config(cfg)  # also when called without a resolved ExperimentConfig (the Python API)
    cache_dir = Path(cfg.cache_dir) if cfg.cache_dir else default_cache_dir()
    files = None
    if cfg.dataset == "cifar10":
        train, test, classes, source = load_cifar10(cfg.data_dir, cache_dir, cfg.download)
    elif cfg.dataset == "imagefolder":
        train, test, classes, source, files = load_imagefolder(cfg.data_dir, cache_dir)
    else:  # synthetic: check_data_config admits no other
        train, test, classes, source = make_synthetic(
            cfg.synthetic_train, cfg.synthetic_test, seed=cfg.split_seed
        )
    val_size, val_rule = cfg.val_size, "as set by val_size"
    if val_size is None:
        val_size, val_rule = (
            default_val_size(len(train)),
            "default: 10 % of the training set, at most 5,000",
        )
    if val_size >= len(train):
        raise UserError(
            f"`data.val_size={val_size}` leaves no training or no validation images (the training set has "
            f"{len(train)}); choose a `data.val_size` between 1 and {len(train) - 1}"
        )
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(cfg.split_seed))
    val = train.subset(order[:val_size])
    rest = order[val_size:]
    if cfg.train_subset:
        rest = rest[: cfg.train_subset]
    train = train.subset(rest)
    test_index = None
    if cfg.test_subset and cfg.test_subset >= len(test):
        note_once(
            f"--test-subset {cfg.test_subset:,} is not smaller than the test set: all "
            f"{len(test):,} test images are used"
        )
    if cfg.test_subset and cfg.test_subset < len(test):
        test_index = torch.randperm(
            len(test), generator=torch.Generator().manual_seed(cfg.split_seed)
        )[: cfg.test_subset]
        test = test.subset(test_index)
    if cfg.normalize:
        pixels = train.images.float().div_(255)
        mean = tuple(pixels.mean(dim=(0, 2, 3)).tolist())
        std = tuple(pixels.std(dim=(0, 2, 3)).clamp_min(1e-3).tolist())
    else:  # pixels in [0, 1] only: every consumer of mean/std (batches, probes) sees the same inputs
        channels = train.images.shape[1]
        mean, std = (0.0,) * channels, (1.0,) * channels
    return DataSplits(
        train,
        val,
        test,
        classes,
        mean,
        std,
        source,
        train_index=rest,
        val_index=order[:val_size],
        test_index=test_index,
        val_rule=val_rule,
        files=files,
    )


def synthetic(n_train: int = 1200, n_test: int = 200, *, val_size: int | None = None) -> DataSplits:
    """A small deterministic, learnable data set (32x32 RGB, 10 classes) with its splits, for a first
    look and for tests: ``resnet_lab.diagnose(model, resnet_lab.data.synthetic())``."""
    return load_data(
        DataConfig(
            dataset="synthetic", synthetic_train=n_train, synthetic_test=n_test, val_size=val_size
        )
    )


def default_val_size(n_train: int) -> int:
    """min(5,000, 10 % of the training set): He et al.'s 45k/5k split on CIFAR-10, and a validation
    split that leaves a small data set 90 % of its images."""
    return max(1, min(5000, n_train // 10))
