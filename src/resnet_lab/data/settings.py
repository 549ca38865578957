"""The data settings (config section ``data:``): their types, defaults, help and checks. Torch-free:
validating a config imports neither torch nor the loaders."""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Literal

from ..errors import UserError
from ..fields import one_of, positive, setting

Dataset = Literal["cifar10", "imagefolder", "synthetic"]
Pipeline = Literal["inmemory", "dataloader"]
DATASETS = typing.get_args(Dataset)
PIPELINES = typing.get_args(Pipeline)


@dataclass(frozen=True)
class DataConfig:
    dataset: Dataset = setting(
        "cifar10",
        "data source: torchvision CIFAR-10, an image folder/.tar.gz with train/ and test/, or "
        "synthetic toy data (smoke preset: synthetic)",
        flag="--dataset",
    )
    data_dir: str | None = setting(
        None,
        "cifar10: folder containing cifar-10-batches-py (downloaded there when missing and online); "
        "imagefolder: folder or .tar/.tar.gz holding train/<class>/* and test/<class>/*",
        flag="--data-dir",
        metavar="PATH",
    )
    cache_dir: str | None = setting(
        None,
        "where downloads and decoded image folders are cached (unset: ~/.cache/resnet-lab or "
        "$RESNET_LAB_CACHE)",
        flag="--cache-dir",
        metavar="PATH",
    )
    download: bool = setting(
        True,
        "cifar10 only: try torchvision's download when there is no local copy",
        switch=("--no-download", False, "never try to download CIFAR-10"),
    )
    # Held out of the training set (the test set is for final numbers). None: min(5,000, 10 % of the
    # training set), i.e. 5,000 for CIFAR-10's 50,000 (He et al.'s 45k/5k split) and 10 % of a
    # small image folder, which 5,000 would leave with few or no training images.
    val_size: int | None = setting(
        None,
        "training images held out for validation (unset: min(5000, 10 % of the training set), "
        "5000 for CIFAR-10)",
        flag="--val-size",
        metavar="N",
    )
    train_subset: int | None = setting(
        None,
        "train on only N images of the training split (unset: all)",
        flag="--train-subset",
        metavar="N",
    )
    # Final numbers on only this many test images (a fixed, seeded choice): for quick studies whose
    # many runs would otherwise spend more time on the test set than on training.
    test_subset: int | None = setting(
        None,
        "final test numbers on a fixed, seeded choice of N test images (unset: all; quick grids)",
        flag="--test-subset",
        metavar="N",
    )
    split_seed: int = setting(
        0, "seed of the train/validation split, fixed so every training seed sees the same split"
    )
    augment: bool = setting(
        True,
        "pad-4 random crop + horizontal flip on training batches",
        switch=("--no-augment", False, "turn off random crop + flip"),
    )
    # False: pixels only scaled to [0, 1] (ToTensor alone), a recipe the seed does not rule out.
    normalize: bool = setting(
        True,
        "standardise inputs per channel by the training split's mean and std",
        switch=(
            "--no-normalize",
            False,
            "scale pixels to [0, 1] only, without the per-channel mean/std standardisation",
        ),
    )
    # The dataloader pipeline is kept as the benchmark's baseline (`resnet-lab bench`) and for
    # checking that both give the same numbers.
    pipeline: Pipeline = setting(
        "inmemory",
        "inmemory: uint8 tensors on the device, batched augmentation (fast); dataloader: "
        "torchvision dataset + per-image transforms in a DataLoader (the conventional way, for "
        "comparison)",
        flag="--pipeline",
    )
    workers: int = setting(
        2, "DataLoader worker processes (dataloader pipeline only)", flag="--workers", metavar="N"
    )
    synthetic_train: int = setting(1200, "training images of the synthetic data set (tests)")
    synthetic_test: int = setting(200, "test images of the synthetic data set (tests)")


def check_data_config(cfg: DataConfig) -> None:
    """The data settings' values (before anything is loaded)."""
    one_of("dataset", cfg.dataset, DATASETS)
    one_of("pipeline", cfg.pipeline, PIPELINES)
    if cfg.workers < 0:
        raise UserError("workers must be >= 0; fix that value")
    if cfg.val_size is not None and cfg.val_size < 1:
        raise UserError(
            f"val_size must be >= 1, got {cfg.val_size}; the validation split is "
            "how models are compared without touching the test set"
        )
    for key, value in (("train_subset", cfg.train_subset), ("test_subset", cfg.test_subset)):
        if value is not None and value < 1:
            raise UserError(f"`data.{key}` must be >= 1, got {value}")
    if cfg.dataset == "synthetic":
        positive("synthetic data set size", min(cfg.synthetic_train, cfg.synthetic_test))
        if cfg.data_dir:
            raise UserError(
                f"`data.data_dir={cfg.data_dir}` is given but `data.dataset=synthetic` generates its "
                "images and reads no files; drop `data.data_dir`, or pass `data.dataset=imagefolder` "
                "(or cifar10) to train on the files there"
            )
