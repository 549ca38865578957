"""The typed containers every data source fills: uint8 images with labels, and the three splits."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class ImageTensors:
    images: torch.Tensor  # (N, C, H, W) uint8
    labels: torch.Tensor  # (N,) int64

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: torch.Tensor) -> ImageTensors:
        return ImageTensors(self.images[index], self.labels[index])


@dataclass
class DataSplits:
    train: ImageTensors
    val: ImageTensors
    test: ImageTensors
    classes: list[str]
    # Per channel, in [0, 1] units: the training split's, or 0 and 1 when data.normalize is off.
    mean: tuple[float, ...]
    std: tuple[float, ...]
    source: str  # human-readable provenance, e.g. "imagefolder archive ... (JPEG)"
    # Positions of the train / validation images in the full training set as loaded, so that the
    # dataloader pipeline can pick the very same images from torchvision's per-image dataset.
    train_index: torch.Tensor | None = None
    test_index: torch.Tensor | None = None  # the test images used when data.test_subset is set
    val_index: torch.Tensor | None = None
    val_rule: str = ""  # how the validation size was chosen (for the data line)
    # An image folder's resolved files per split ("train": the whole training set before the
    # validation split, "test"), as (path or archive member, class index) in load order: the
    # dataloader pipeline reads exactly these, never a second listing that could differ.
    files: dict[str, list[tuple[str, int]]] | None = None

    def describe(self) -> str:
        """The data line every command prints: source and split sizes."""
        rule = f" ({self.val_rule})" if self.val_rule else ""
        return (
            f"{self.source}; {len(self.train):,} train / {len(self.val):,} val{rule} / "
            f"{len(self.test):,} test images"
        )

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train.images.shape[1:])  # type: ignore[return-value]
