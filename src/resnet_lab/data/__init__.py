"""Data sets -> in-memory uint8 tensors -> batched, normalised, augmented batches on the device.

Every source is decoded once into ``uint8`` tensors of shape (N, 3, H, W) plus ``int64`` labels:

* ``cifar10``: torchvision's :class:`~torchvision.datasets.CIFAR10` (an existing
  ``cifar-10-batches-py`` folder; downloaded into the cache when online).
* ``imagefolder``: ``train/<class>/*`` and ``test/<class>/*`` (class folders in alphabetical order,
  as torchvision's :class:`~torchvision.datasets.ImageFolder` orders them), either a directory or a
  ``.tar``/``.tar.gz`` archive of one, e.g. ``../shared/datasets/cifar10-jpeg.tar.gz``. The decoded
  tensors are cached under a key that hashes the files' bytes, so a second run does not decode
  60,000 JPEGs again and a changed folder is never served old pixels.
* ``synthetic``: a small deterministic, learnable data set for tests.

The training set is split into train and validation (``val_size`` images, default min(5,000, 10 %),
seeded by ``split_seed`` so every training seed sees the same validation set); the test set is only used
for final numbers. Normalisation uses per-channel statistics of the training split.

The package: ``tensors`` (the typed containers), ``files`` (an image folder's resolved file list,
bad layouts refused), ``cache`` (the decoded-image cache and its key), ``memory`` (does it fit?),
``sources`` (each data set -> uint8 tensors), ``splits`` (train / validation / test), ``batches``
(the in-memory pipeline and the shared batch source), ``loader`` (the conventional torchvision +
DataLoader pipeline, for comparison; it reads the same resolved file list).
"""

import importlib
from typing import Any

# name -> the submodule it comes from, imported on first use: importing the package (e.g. for
# data/settings.py, which config.py needs) loads neither torch nor the loaders.
_FROM = {
    "Batches": "batches",
    "BatchSource": "batches",
    "make_batches": "batches",
    "random_crop_flip": "batches",
    "default_cache_dir": "cache",
    "IMAGE_SUFFIXES": "files",
    "LoaderBatches": "loader",
    "TensorImageDataset": "loader",
    "torchvision_dataset": "loader",
    "torchvision_transform": "loader",
    "CIFAR10_CLASSES": "sources",
    "load_cifar10": "sources",
    "load_imagefolder": "sources",
    "make_synthetic": "sources",
    "default_val_size": "splits",
    "load_data": "splits",
    "synthetic": "splits",
    "DataSplits": "tensors",
    "ImageTensors": "tensors",
}


__all__ = [
    "CIFAR10_CLASSES",
    "IMAGE_SUFFIXES",
    "BatchSource",
    "Batches",
    "DataSplits",
    "ImageTensors",
    "LoaderBatches",
    "TensorImageDataset",
    "default_cache_dir",
    "default_val_size",
    "load_cifar10",
    "load_data",
    "load_imagefolder",
    "make_batches",
    "make_synthetic",
    "random_crop_flip",
    "synthetic",
    "torchvision_dataset",
    "torchvision_transform",
]


def __getattr__(name: str) -> Any:
    if name in _FROM:
        return getattr(importlib.import_module(f"{__name__}.{_FROM[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
