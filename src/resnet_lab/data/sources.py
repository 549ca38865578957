"""Each data source decoded once into uint8 tensors: CIFAR-10 (torchvision), an image folder or its
archive (its resolved file list from ``files.py``, cached after the first decode under the key of
``cache.py``), synthetic data. Sizes are checked before tensors are allocated (``memory.py``)."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import UserError
from . import cache
from .files import ImageList, list_archive, list_folder, open_archive
from .memory import (
    DECODED_BYTES_PER_ELEMENT,
    SYNTHETIC_BYTES_PER_ELEMENT,
    TRAIN_EXTRA_BYTES_PER_ELEMENT,
    check_fits,
)
from .tensors import ImageTensors

CIFAR10_CLASSES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]


def _cifar_root(data_dir: str | None, cache_dir: Path) -> Path:
    root = Path(data_dir) if data_dir else cache_dir / "cifar10"
    return root.parent if root.name == "cifar-10-batches-py" else root


def load_cifar10(
    data_dir: str | None, cache_dir: Path, download: bool
) -> tuple[ImageTensors, ImageTensors, list[str], str]:
    from torchvision.datasets import CIFAR10

    root = _cifar_root(data_dir, cache_dir)
    have_local = (root / "cifar-10-batches-py").is_dir()
    if data_dir and not root.exists():
        raise UserError(
            f"data directory {root} does not exist; pass `data.data_dir` pointing to a folder "
            "that contains cifar-10-batches-py"
        )
    if not have_local and not download:
        raise UserError(
            f"no cifar-10-batches-py folder in {root}; pass `data.data_dir` pointing to a "
            "folder that contains it, or allow downloading"
        )
    try:
        splits = [
            CIFAR10(str(root), train=train, download=download and not have_local)
            for train in (True, False)
        ]
    except (RuntimeError, OSError, ValueError, EOFError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(
            f"CIFAR-10 could not be loaded from {root} ({first}); check the files or pass `data.data_dir` "
            "to a folder with an intact cifar-10-batches-py (or `data.dataset=imagefolder` for a JPEG copy)"
        ) from None
    except Exception as exc:  # noqa: BLE001 - a truncated pickle raises UnpicklingError and friends
        raise UserError(
            f"CIFAR-10 files in {root / 'cifar-10-batches-py'} are unreadable ({type(exc).__name__}: "
            f"{exc}); re-download them or point `data.data_dir` at an intact copy"
        ) from None
    tensors = [
        ImageTensors(
            torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous(),
            torch.tensor(ds.targets, dtype=torch.int64),
        )
        for ds in splits
    ]
    return (
        tensors[0],
        tensors[1],
        list(splits[0].classes),
        f"cifar10 (torchvision binaries) at {root}",
    )


def _decode(data: bytes, name: str) -> torch.Tensor:
    # Pillow, as torchvision's ImageFolder loader uses (torchvision.io's decoders are deprecated
    # since 0.29); decoding happens once per data set thanks to the cache, so its speed matters little.
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            array = np.asarray(img.convert("RGB"))
    except Image.DecompressionBombError:
        raise UserError(
            f"image {name} has more pixels than Pillow will decode (its guard against "
            "decompression bombs); remove that file or shrink it"
        ) from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise UserError(
            f"cannot decode image {name} ({type(exc).__name__}); remove or replace that file"
        ) from None
    return torch.from_numpy(array.copy()).permute(2, 0, 1)


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise UserError(
            f"cannot read image {path} ({exc.strerror or type(exc).__name__}); check that file"
        ) from None


def _read_images(root: Path, listing: ImageList) -> Iterator[tuple[str, int, str, bytes]]:
    """(split, position in the split, name for messages, bytes) of every listed image, in one pass
    over an archive (a .tar.gz cannot be read out of order cheaply)."""
    if root.is_dir():
        for split, entries in listing.files.items():
            for i, (path, _) in enumerate(entries):
                yield split, i, path, _read(path)
        return
    where = {
        name: (split, i) for split, e in listing.files.items() for i, (name, _) in enumerate(e)
    }
    try:
        with open_archive(root) as tf:
            for member in tf:
                if member.name in where and member.isfile():
                    split, i = where[member.name]
                    yield split, i, f"{root}:{member.name}", tf.extractfile(member).read()
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise UserError(
            f"cannot read archive {root} ({type(exc).__name__}); check that it is a complete "
            ".tar or .tar.gz file"
        ) from None


def _size(shape: tuple[int, ...] | torch.Size) -> str:
    return f"{shape[-1]}x{shape[-2]}"


def _decode_all(root: Path, listing: ImageList) -> dict[str, torch.Tensor]:
    """The listed images decoded into one uint8 tensor per split. The first image fixes the size
    (square, or refused before anything else is decoded) and the memory check; every other image
    must match it. The tensors are filled in place: no list of images next to their stack."""
    counts = {split: len(entries) for split, entries in listing.files.items()}
    out: dict[str, torch.Tensor] = {}
    first: tuple[str, torch.Size] | None = None
    for split, i, name, data in _read_images(root, listing):
        img = _decode(data, name)
        if first is None:
            first = (name, img.shape)
            if img.shape[-1] != img.shape[-2]:
                raise UserError(
                    f"{name} is {_size(img.shape)} pixels (width x height); the models take "
                    "square images (every image the same size, e.g. 32x32 as CIFAR-10) - crop or "
                    "resize the images to one square size"
                )
            per_image = img.numel()
            needed = per_image * (
                DECODED_BYTES_PER_ELEMENT * sum(counts.values())
                + TRAIN_EXTRA_BYTES_PER_ELEMENT * counts["train"]
            )
            check_fits(
                f"decoding {root} ({sum(counts.values()):,} images of {_size(img.shape)} pixels)",
                needed,
                "use fewer or smaller images (e.g. a folder with a subset of them, or images "
                "resized to 32x32), or a machine with more memory",
            )
            out = {s: torch.empty((n, *img.shape), dtype=torch.uint8) for s, n in counts.items()}
        elif img.shape != first[1]:
            raise UserError(
                f"{name} is {_size(img.shape)} pixels but {first[0]} is {_size(first[1])}; every "
                "image must have the same square size (e.g. 32x32) - resize them to one size first"
            )
        out[split][i] = img
    return out


class FolderData(NamedTuple):
    train: ImageTensors
    test: ImageTensors
    classes: list[str]
    source: str
    # per split, (file path or archive member, class index) of every image in load order: what
    # the dataloader pipeline reads, so both pipelines see the same images with the same labels
    files: dict[str, list[tuple[str, int]]]


def load_imagefolder(data_dir: str | None, cache_dir: Path) -> FolderData:
    """An image folder or archive decoded into uint8 tensors, from the cache when its key (the
    resolved files and their bytes, see ``cache.py``) matches."""
    if not data_dir:
        raise UserError(
            "`data.dataset=imagefolder` needs `data.data_dir`: a folder (or .tar.gz) holding "
            "train/<class>/* and test/<class>/*"
        )
    root = Path(data_dir)
    if not root.exists():
        raise UserError(
            f"data directory {root} does not exist; pass `data.data_dir` pointing to a folder "
            "(or .tar.gz) holding train/<class>/* and test/<class>/*"
        )
    if root.is_dir() and not ((root / "train").is_dir() and (root / "test").is_dir()):
        raise UserError(
            f"{root} has no train/ and test/ folders; an image folder needs "
            "train/<class>/*.jpg and test/<class>/*.jpg"
        )
    listing = list_folder(root) if root.is_dir() else None
    key = cache.folder_key(root, listing) if listing else cache.archive_key(root)
    blob = cache.read(cache_dir, key)
    if blob is not None:
        return FolderData(
            ImageTensors(blob["train_x"], blob["train_y"]),
            ImageTensors(blob["test_x"], blob["test_y"]),
            blob["classes"],
            blob["source"],
            # a folder's paths as listed now (the data may be named from another working
            # directory); an archive's member names as cached
            listing.files
            if listing
            else {
                split: list(zip(blob["names"][split].split("\0"), blob[f"{split}_y"].tolist()))
                for split in ("train", "test")
            },
        )
    listing = listing or list_archive(root)
    images = _decode_all(root, listing)
    train, test = (
        ImageTensors(
            images[split],
            torch.tensor([label for _, label in listing.files[split]], dtype=torch.int64),
        )
        for split in ("train", "test")
    )
    is_jpeg = any(name.lower().endswith((".jpg", ".jpeg")) for name, _ in listing.files["train"])
    kind = "archive" if root.is_file() else "folder"
    source = f"imagefolder {kind} {root.resolve()}" + (
        " (JPEG-compressed images)" if is_jpeg else ""
    )
    cache.write(
        cache_dir,
        key,
        {
            "train_x": train.images,
            "train_y": train.labels,
            "test_x": test.images,
            "test_y": test.labels,
            "classes": listing.classes,
            "source": source,
            # one NUL-joined string per split (no path holds a NUL): a list of 60,000 entries took
            # 0.8 s to unpickle with weights_only; the labels are train_y / test_y
            "names": {
                split: "\0".join(name for name, _ in entries)
                for split, entries in listing.files.items()
            },
        },
    )
    return FolderData(train, test, listing.classes, source, listing.files)


def make_synthetic(
    n_train: int, n_test: int, *, num_classes: int = 10, size: int = 32, seed: int = 0
) -> tuple[ImageTensors, ImageTensors, list[str], str]:
    """A learnable toy set: each class is a smooth random template; samples are shifted, noisy
    copies. Refused before anything is allocated when it cannot fit in memory."""
    check_fits(
        f"synthetic data of {n_train:,} + {n_test:,} images of 3x{size}x{size}",
        SYNTHETIC_BYTES_PER_ELEMENT * (n_train + n_test) * 3 * size * size,
        "lower data.synthetic_train / data.synthetic_test (defaults 1,200 and 200)",
    )
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(num_classes, 3, 4, 4, generator=g)
    templates = F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)

    def sample(n: int) -> ImageTensors:
        labels = torch.arange(n) % num_classes
        labels = labels[torch.randperm(n, generator=g)]
        shifts = torch.randint(-2, 3, (n, 2), generator=g)
        x = templates[labels]
        x = torch.stack(
            [torch.roll(img, (int(s[0]), int(s[1])), dims=(1, 2)) for img, s in zip(x, shifts)]
        )
        x = x + 0.15 * torch.randn(x.shape, generator=g)
        return ImageTensors((x.clamp(0, 1) * 255).round().to(torch.uint8), labels.to(torch.int64))

    train, test = sample(n_train), sample(n_test)
    return train, test, [f"class{i}" for i in range(num_classes)], f"synthetic (seed {seed})"
