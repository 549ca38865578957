"""Each data source decoded once into uint8 tensors: CIFAR-10 (torchvision), an image folder or its
archive (cached after the first decode), synthetic data."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import UserError
from .tensors import ImageTensors

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
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


def default_cache_dir() -> Path:
    return Path(os.environ.get("RESNET_LAB_CACHE", Path.home() / ".cache" / "resnet-lab"))


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
            f"data directory {root} does not exist; pass --data-dir pointing to a folder "
            "that contains cifar-10-batches-py"
        )
    if not have_local and not download:
        raise UserError(
            f"no cifar-10-batches-py folder in {root}; pass --data-dir pointing to a "
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
            f"CIFAR-10 could not be loaded from {root} ({first}); check the files or pass --data-dir "
            "to a folder with an intact cifar-10-batches-py (or --dataset imagefolder for a JPEG copy)"
        ) from None
    except Exception as exc:  # noqa: BLE001 - a truncated pickle raises UnpicklingError and friends
        raise UserError(
            f"CIFAR-10 files in {root / 'cifar-10-batches-py'} are unreadable ({type(exc).__name__}: "
            f"{exc}); re-download them or point --data-dir at an intact copy"
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
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise UserError(
            f"cannot decode image {name} ({type(exc).__name__}); remove or replace that file"
        ) from None
    return torch.from_numpy(array.copy()).permute(2, 0, 1)


def _iter_folder(root: Path) -> Iterator[tuple[str, str, str, bytes]]:
    """(split, class, file name, bytes) for every image under root/{train,test}/<class>/."""
    from torchvision.datasets.folder import find_classes, make_dataset

    for split in ("train", "test"):
        _classes, class_to_idx = find_classes(str(root / split))
        for path, _ in make_dataset(str(root / split), class_to_idx, extensions=IMAGE_SUFFIXES):
            yield split, Path(path).parent.name, path, Path(path).read_bytes()


def _iter_archive(archive: Path) -> Iterator[tuple[str, str, str, bytes]]:
    """The same for a tar archive; the train/ and test/ folders may sit one level down."""
    try:
        with tarfile.open(archive) as tf:
            for member in tf:
                parts = Path(member.name).parts
                if not member.isfile() or not member.name.lower().endswith(IMAGE_SUFFIXES):
                    continue
                for i, part in enumerate(parts[:-2]):
                    if part in ("train", "test") and i + 3 == len(parts):
                        yield part, parts[i + 1], member.name, tf.extractfile(member).read()
                        break
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise UserError(
            f"cannot read archive {archive} ({exc}); check that it is a complete "
            ".tar or .tar.gz file"
        ) from None


def _folder_fingerprint(root: Path) -> str:
    h = hashlib.sha1(str(root.resolve()).encode())
    if root.is_file():
        st = root.stat()
        h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
    else:
        for split in ("train", "test"):
            for dirpath, dirnames, filenames in sorted(os.walk(root / split)):
                dirnames.sort()
                for name in sorted(filenames):
                    st = os.stat(os.path.join(dirpath, name))
                    h.update(f"{dirpath}/{name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def load_imagefolder(
    data_dir: str | None, cache_dir: Path
) -> tuple[ImageTensors, ImageTensors, list[str], str]:
    if not data_dir:
        raise UserError(
            "--dataset imagefolder needs --data-dir: a folder (or .tar.gz) holding "
            "train/<class>/* and test/<class>/*"
        )
    root = Path(data_dir)
    if not root.exists():
        raise UserError(
            f"data directory {root} does not exist; pass --data-dir pointing to a folder "
            "(or .tar.gz) holding train/<class>/* and test/<class>/*"
        )
    if root.is_dir() and not ((root / "train").is_dir() and (root / "test").is_dir()):
        raise UserError(
            f"{root} has no train/ and test/ folders; an image folder needs "
            "train/<class>/*.jpg and test/<class>/*.jpg"
        )
    is_jpeg = False
    cache = cache_dir / f"imagefolder-{_folder_fingerprint(root)}.pt"
    if cache.exists():
        try:
            blob = torch.load(cache, weights_only=True)
            return (
                ImageTensors(blob["train_x"], blob["train_y"]),
                ImageTensors(blob["test_x"], blob["test_y"]),
                blob["classes"],
                blob["source"],
            )
        except Exception:  # noqa: BLE001 - a damaged cache fails in many ways; it is rebuilt, never trusted
            cache.unlink(missing_ok=True)

    images: dict[str, list[torch.Tensor]] = {"train": [], "test": []}
    names: dict[str, list[str]] = {"train": [], "test": []}
    items = _iter_archive(root) if root.is_file() else _iter_folder(root)
    for split, cls, name, data in items:
        images[split].append(_decode(data, name))
        names[split].append(cls)
        is_jpeg = is_jpeg or name.lower().endswith((".jpg", ".jpeg"))
    classes = sorted(set(names["train"]))
    if not classes or not names["test"]:
        raise UserError(
            f"{root} holds no images under train/<class>/ and test/<class>/; "
            "an image folder needs both"
        )
    if sorted(set(names["test"])) != classes:
        raise UserError(f"{root}: train/ and test/ have different class folders; make them match")
    shapes = {tuple(img.shape) for split in images.values() for img in split}
    if len(shapes) != 1:
        raise UserError(
            f"{root}: images differ in size ({sorted(shapes)[:3]} ...); resize them to "
            "one size first"
        )
    index = {c: i for i, c in enumerate(classes)}
    splits = []
    for split in ("train", "test"):
        splits.append(
            ImageTensors(
                torch.stack(images[split]),
                torch.tensor([index[c] for c in names[split]], dtype=torch.int64),
            )
        )
    kind = "archive" if root.is_file() else "folder"
    source = f"imagefolder {kind} {root.resolve()}" + (
        " (JPEG-compressed images)" if is_jpeg else ""
    )
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    torch.save(
        {
            "train_x": splits[0].images,
            "train_y": splits[0].labels,
            "test_x": splits[1].images,
            "test_y": splits[1].labels,
            "classes": classes,
            "source": source,
        },
        tmp,
    )
    os.replace(tmp, cache)
    return splits[0], splits[1], classes, source


def make_synthetic(
    n_train: int, n_test: int, *, num_classes: int = 10, size: int = 32, seed: int = 0
) -> tuple[ImageTensors, ImageTensors, list[str], str]:
    """A learnable toy set: each class is a smooth random template; samples are shifted, noisy copies."""
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
