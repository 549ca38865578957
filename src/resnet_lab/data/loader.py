"""The conventional pipeline: torchvision's per-image datasets and transforms in a DataLoader."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import torch

from ..config import DataConfig
from .batches import BatchSource
from .sources import (
    IMAGE_SUFFIXES,
    _cifar_root,
    _folder_fingerprint,
    _iter_archive,
    default_cache_dir,
    make_synthetic,
)
from .tensors import ImageTensors

# --------------------------------------------------------------------------- the conventional pipeline
# What most CIFAR reproductions do (kuangliu/pytorch-cifar, akamaster/pytorch_resnet_cifar10):
# torchvision's dataset yields one PIL image at a time, per-image transforms make a float tensor of
# it, and DataLoader worker processes collate batches in NCHW. Kept as the baseline that
# `resnet-lab bench` measures the in-memory pipeline against, and selectable with --pipeline.


class TensorImageDataset(torch.utils.data.Dataset):
    """Per-image access over decoded uint8 tensors exactly as torchvision's CIFAR10 does it
    (a PIL image per item, then the transform); used for sources torchvision has no class for."""

    def __init__(self, data: ImageTensors, transform):
        self.images = data.images.permute(0, 2, 3, 1).contiguous().numpy()  # HWC, as PIL wants
        self.labels = data.labels.tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        from PIL import Image

        return self.transform(Image.fromarray(self.images[i])), self.labels[i]


def extract_archive(archive: Path, cache_dir: Path) -> tuple[Path, dict[str, list[str]]]:
    """Unpack an image-folder archive once into the cache (torchvision's ImageFolder reads files);
    returns the folder and, per split, the images' ``class/file`` paths in archive order, which is
    the order :func:`load_imagefolder` stacked them in."""
    import json

    folder = cache_dir / f"imagefolder-{_folder_fingerprint(archive)}-files"
    order_file = folder / "order.json"
    if order_file.is_file():
        return folder, json.loads(order_file.read_text())
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    order: dict[str, list[str]] = {"train": [], "test": []}
    for split, cls, name, blob in _iter_archive(archive):
        rel = f"{cls}/{Path(name).name}"
        (tmp / split / cls).mkdir(parents=True, exist_ok=True)
        (tmp / split / rel).write_bytes(blob)
        order[split].append(rel)
    (tmp / "order.json").write_text(json.dumps(order))
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    return folder, order


def _is_image(path: str) -> bool:
    return path.lower().endswith(IMAGE_SUFFIXES)


def torchvision_dataset(cfg: DataConfig, split: str, transform) -> torch.utils.data.Dataset:
    """torchvision's per-image dataset for ``cfg``'s source: the whole training set ('train', before
    the validation split) or the test set, with images in the order :func:`load_data` loads them."""
    from torchvision.datasets import CIFAR10, ImageFolder

    cache_dir = Path(cfg.cache_dir) if cfg.cache_dir else default_cache_dir()
    if cfg.dataset == "cifar10":
        return CIFAR10(
            str(_cifar_root(cfg.data_dir, cache_dir)), train=split == "train", transform=transform
        )
    if cfg.dataset == "imagefolder":
        root = Path(cfg.data_dir)
        if root.is_dir():  # ImageFolder and load_imagefolder list files the same way (make_dataset)
            return ImageFolder(str(root / split), transform=transform, is_valid_file=_is_image)
        folder, order = extract_archive(root, cache_dir)
        ds = ImageFolder(str(folder / split), transform=transform)
        position = {
            os.path.relpath(path, folder / split): i for i, (path, _) in enumerate(ds.samples)
        }
        return torch.utils.data.Subset(ds, [position[rel] for rel in order[split]])
    train, test, _, _ = make_synthetic(cfg.synthetic_train, cfg.synthetic_test, seed=cfg.split_seed)
    return TensorImageDataset(train if split == "train" else test, transform)


def torchvision_transform(mean, std, size: int, augment: bool):
    from torchvision import transforms as T

    steps = [T.RandomCrop(size, padding=4), T.RandomHorizontalFlip()] if augment else []
    return T.Compose(steps + [T.ToTensor(), T.Normalize(mean, std)])


class LoaderBatches(BatchSource):
    """The conventional pipeline behind the same interface as :class:`Batches`: a DataLoader over a
    torchvision dataset, created per epoch (workers start again each epoch, as with a default
    DataLoader), shuffled by a generator seeded by ``(seed, epoch)``."""

    def __init__(
        self,
        dataset: torch.utils.data.Dataset,
        *,
        batch_size: int,
        device: torch.device,
        shuffle: bool = False,
        seed: int = 0,
        channels_last: bool = False,
        workers: int = 2,
        drop_last: bool = False,
    ):
        self.dataset, self.batch_size, self.device = dataset, batch_size, device
        self.shuffle, self.seed, self.workers, self.drop_last = shuffle, seed, workers, drop_last
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.epoch = 0

    def items(self) -> int:
        return len(self.dataset)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        from torch.utils.data import DataLoader

        g = self.epoch_generator()
        loader = DataLoader(
            self.dataset,
            batch_size=self.batch_size,
            shuffle=self.shuffle,
            generator=g,
            num_workers=self.workers,
            pin_memory=self.device.type == "cuda",
            drop_last=self.drop_last,
        )
        for x, y in loader:
            yield (
                x.to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format),
                y.to(self.device, non_blocking=True),
            )
