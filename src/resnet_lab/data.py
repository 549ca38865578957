"""Data sets -> in-memory uint8 tensors -> batched, normalised, augmented batches on the device.

Every source is decoded once into ``uint8`` tensors of shape (N, 3, H, W) plus ``int64`` labels:

* ``cifar10``: torchvision's :class:`~torchvision.datasets.CIFAR10` (an existing
  ``cifar-10-batches-py`` folder; downloaded into the cache when online).
* ``imagefolder``: ``train/<class>/*`` and ``test/<class>/*`` (class folders in alphabetical order,
  as torchvision's :class:`~torchvision.datasets.ImageFolder` orders them), either a directory or a
  ``.tar``/``.tar.gz`` archive of one, e.g. ``../shared/datasets/cifar10-jpeg.tar.gz``. The decoded
  tensors are cached, so a second run does not decode 60,000 JPEGs again.
* ``synthetic``: a small deterministic, learnable data set for tests.

The training set is split into train and validation (``val_size`` images, default min(5,000, 10 %),
seeded by ``split_seed`` so every training seed sees the same validation set); the test set is only used
for final numbers. Normalisation uses per-channel statistics of the training split.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import shutil
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from .config import DATASETS, DataConfig
from .errors import UserError

if TYPE_CHECKING:
    from .config import ExperimentConfig

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
    mean: tuple[float, ...]  # per channel, in [0, 1] units, of the training split
    std: tuple[float, ...]
    source: str  # human-readable provenance, e.g. "imagefolder archive ... (JPEG)"
    # Positions of the train / validation images in the full training set as loaded, so that the
    # dataloader pipeline can pick the very same images from torchvision's per-image dataset.
    train_index: torch.Tensor | None = None
    test_index: torch.Tensor | None = None  # the test images used when data.test_subset is set
    val_index: torch.Tensor | None = None
    val_rule: str = ""  # how the validation size was chosen (for the data line)

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


def default_cache_dir() -> Path:
    return Path(os.environ.get("RESNET_LAB_CACHE", Path.home() / ".cache" / "resnet-lab"))


# --------------------------------------------------------------------------- sources


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


# --------------------------------------------------------------------------- splits


def load_data(cfg: DataConfig) -> DataSplits:
    """Load ``cfg.dataset`` and split off the validation set. Raises UserError on bad input."""
    cache_dir = Path(cfg.cache_dir) if cfg.cache_dir else default_cache_dir()
    if cfg.dataset == "cifar10":
        train, test, classes, source = load_cifar10(cfg.data_dir, cache_dir, cfg.download)
    elif cfg.dataset == "imagefolder":
        train, test, classes, source = load_imagefolder(cfg.data_dir, cache_dir)
    elif cfg.dataset == "synthetic":
        train, test, classes, source = make_synthetic(
            cfg.synthetic_train, cfg.synthetic_test, seed=cfg.split_seed
        )
    else:
        raise UserError(f"unknown dataset {cfg.dataset!r}; choose one of: {', '.join(DATASETS)}")
    val_size, val_rule = cfg.val_size, "as set by val_size"
    if val_size is None:
        val_size, val_rule = (
            default_val_size(len(train)),
            "default: 10 % of the training set, at most 5,000",
        )
    if val_size >= len(train) or val_size < 1:
        raise UserError(
            f"val_size {val_size} leaves no training or no validation images (the training set has "
            f"{len(train)}); choose a --val-size between 1 and {len(train) - 1}"
        )
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(cfg.split_seed))
    val = train.subset(order[:val_size])
    rest = order[val_size:]
    if cfg.train_subset:
        rest = rest[: cfg.train_subset]
    train = train.subset(rest)
    test_index = None
    if cfg.test_subset and cfg.test_subset < len(test):
        test_index = torch.randperm(
            len(test), generator=torch.Generator().manual_seed(cfg.split_seed)
        )[: cfg.test_subset]
        test = test.subset(test_index)
    pixels = train.images.float().div_(255)
    mean = tuple(pixels.mean(dim=(0, 2, 3)).tolist())
    std = tuple(pixels.std(dim=(0, 2, 3)).clamp_min(1e-3).tolist())
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
    )


def synthetic(n_train: int = 1200, n_test: int = 200, *, val_size: int | None = None) -> DataSplits:
    """A small deterministic, learnable data set (32x32 RGB, 10 classes) with its splits, for a first
    look and for tests: ``resnet_lab.diagnose(model, resnet_lab.data.synthetic())``."""
    from .config import DataConfig

    return load_data(
        DataConfig(
            dataset="synthetic", synthetic_train=n_train, synthetic_test=n_test, val_size=val_size
        )
    )


def default_val_size(n_train: int) -> int:
    """min(5,000, 10 % of the training set): He et al.'s 45k/5k split on CIFAR-10, and a validation
    split that leaves a small data set 90 % of its images."""
    return max(1, min(5000, n_train // 10))


# --------------------------------------------------------------------------- batches


def random_crop_flip(
    x: torch.Tensor, generator: torch.Generator, *, padding: int = 4, flip: bool = True
) -> torch.Tensor:
    """Per-image random crop (zero padding, like torchvision's RandomCrop) and horizontal flip,
    done for the whole uint8 batch at once with one gather instead of a Python loop per image."""
    n, c, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    offsets = torch.randint(0, 2 * padding + 1, (2, n), generator=generator).to(x.device)
    rows = offsets[0][:, None] + torch.arange(h, device=x.device)  # (n, h)
    cols = offsets[1][:, None] + torch.arange(w, device=x.device)  # (n, w)
    if flip:
        mirrored = torch.rand(n, generator=generator).to(x.device) < 0.5
        cols = torch.where(mirrored[:, None], cols.flip(1), cols)
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chan = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, chan, rows[:, None, :, None], cols[:, None, None, :]]


class Batches:
    """Iterates (normalised float images, labels) over an :class:`ImageTensors`.

    The uint8 images live on ``device``; shuffling and augmentation are seeded by
    ``(seed, epoch)`` (call :meth:`set_epoch`), so an epoch's batches are reproducible on their own.
    """

    def __init__(
        self,
        data: ImageTensors,
        *,
        batch_size: int,
        mean,
        std,
        device: torch.device,
        shuffle: bool = False,
        augment: bool = False,
        seed: int = 0,
        channels_last: bool = False,
        drop_last: bool = False,
    ):
        self.images = data.images.to(device)
        self.labels = data.labels.to(device)
        self.batch_size = batch_size
        self.mean = torch.tensor(mean, device=device).view(1, -1, 1, 1) * 255
        self.std = torch.tensor(std, device=device).view(1, -1, 1, 1) * 255
        self.device = device
        self.shuffle, self.augment, self.seed = shuffle, augment, seed
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.drop_last = drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        n = len(self.labels)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        n = len(self.labels)
        order = torch.randperm(n, generator=g).to(self.device) if self.shuffle else None
        for b in range(len(self)):
            idx = slice(b * self.batch_size, (b + 1) * self.batch_size)
            sel = order[idx] if order is not None else idx
            x, y = self.images[sel], self.labels[sel]
            if self.augment:
                x = random_crop_flip(x, g)
            x = ((x.float() - self.mean) / self.std).contiguous(memory_format=self.memory_format)
            yield x, y


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


class LoaderBatches:
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

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        from torch.utils.data import DataLoader

        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
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


def make_batches(
    data: DataSplits, cfg: ExperimentConfig, device: torch.device
) -> dict[str, Batches | LoaderBatches]:
    """Train / val / test batch iterators of the configured pipeline (``cfg.data.pipeline``)."""
    t = cfg.train
    if cfg.data.pipeline == "dataloader":
        size = data.image_shape[-1]
        common = {"device": device, "channels_last": t.channels_last, "workers": cfg.data.workers}

        def loader(split: str, index, augment: bool, **kw) -> LoaderBatches:
            ds = torchvision_dataset(
                cfg.data, split, torchvision_transform(data.mean, data.std, size, augment)
            )
            if index is not None:
                ds = torch.utils.data.Subset(ds, index.tolist())
            return LoaderBatches(ds, **common, **kw)

        return {
            "train": loader(
                "train",
                data.train_index,
                cfg.data.augment,
                batch_size=t.batch_size,
                shuffle=True,
                seed=t.seed,
            ),
            "val": loader("train", data.val_index, False, batch_size=t.eval_batch_size),
            "test": loader("test", data.test_index, False, batch_size=t.eval_batch_size),
        }
    common = {
        "mean": data.mean,
        "std": data.std,
        "device": device,
        "channels_last": t.channels_last,
    }
    return {
        "train": Batches(
            data.train,
            batch_size=t.batch_size,
            shuffle=True,
            augment=cfg.data.augment,
            seed=t.seed,
            **common,
        ),
        "val": Batches(data.val, batch_size=t.eval_batch_size, **common),
        "test": Batches(data.test, batch_size=t.eval_batch_size, **common),
    }
