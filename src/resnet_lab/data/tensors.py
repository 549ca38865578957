"""The typed containers every data source fills: uint8 images with labels, and the three splits."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

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
    _fingerprint: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    def describe(self) -> str:
        """The data line every command prints: source and split sizes."""
        rule = f" ({self.val_rule})" if self.val_rule else ""
        return (
            f"{self.source}; {len(self.train):,} train / {len(self.val):,} val{rule} / "
            f"{len(self.test):,} test images"
        )

    def fingerprint(self) -> dict[str, Any]:
        """What a run was trained and judged on: a digest of every split's pixels and labels in
        order, with the class list and split sizes (so a mismatch can be named). Recorded in every
        run's provenance; resume and analyze refuse other data (``same_data``)."""
        if self._fingerprint is None:
            digest = hashlib.blake2b(digest_size=16)
            digest.update("\n".join(self.classes).encode("utf-8", "surrogateescape"))
            for split in (self.train, self.val, self.test):
                for t in (split.labels, split.images):
                    digest.update(t.detach().cpu().contiguous().numpy().tobytes())
            self._fingerprint = {
                "digest": digest.hexdigest(),
                "classes": list(self.classes),
                **{k: len(getattr(self, k)) for k in ("train", "val", "test")},
            }
        return self._fingerprint

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train.images.shape[1:])  # type: ignore[return-value]


def same_data(recorded: dict[str, Any] | None, current: dict[str, Any]) -> str | None:
    """None when ``current`` (a fingerprint) is the data ``recorded`` (or nothing was recorded: a
    run from before fingerprints); else what differs, for a one-line refusal."""
    if not recorded or recorded.get("digest") == current["digest"]:
        return None
    gone = [c for c in recorded.get("classes", []) if c not in current["classes"]]
    new = [c for c in current["classes"] if c not in recorded.get("classes", [])]
    if gone or new:
        return "classes " + "; ".join(
            ([f"removed {', '.join(gone[:3])}"] if gone else [])
            + ([f"added {', '.join(new[:3])}"] if new else [])
        )
    if recorded.get("classes") != current["classes"]:
        return "the same classes in another order (labels would mean other classes)"
    sizes = [
        f"{k} images {recorded[k]:,} -> {current[k]:,}"
        for k in ("train", "val", "test")
        if recorded.get(k) != current[k]
    ]
    return ", ".join(sizes) if sizes else "the same numbers of images with other pixels or labels"
