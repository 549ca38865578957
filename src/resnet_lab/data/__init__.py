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

from .batches import Batches, BatchSource, make_batches, random_crop_flip
from .cache import default_cache_dir
from .files import IMAGE_SUFFIXES
from .loader import LoaderBatches, TensorImageDataset, torchvision_dataset, torchvision_transform
from .sources import CIFAR10_CLASSES, load_cifar10, load_imagefolder, make_synthetic
from .splits import default_val_size, load_data, synthetic
from .tensors import DataSplits, ImageTensors

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
