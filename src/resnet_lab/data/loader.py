"""The conventional pipeline: torchvision's per-image datasets and transforms in a DataLoader."""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from ..config import DataConfig
from ..errors import UserError
from . import cache
from .batches import BatchSource
from .cache import default_cache_dir
from .files import extracted_name, list_archive, list_folder, open_archive
from .sources import _cifar_root, make_synthetic
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


class ListedImages(torch.utils.data.Dataset):
    """ImageFolder's per-item work (torchvision's ``default_loader``, i.e. a PIL image converted to
    RGB, then the transform) over a given ``(path, class index)`` list: the resolved list that
    :func:`load_imagefolder` decoded, not a second walk of the folder that could see other files.
    ``read`` replaces the loader for images held in memory (archive members). ``fix``: what to do
    when a listed file can no longer be read (said in the one-line error)."""

    def __init__(self, samples: list[tuple[Any, int]], transform, read=None, fix: str = ""):
        from torchvision.datasets.folder import default_loader

        self.samples, self.transform, self.read = samples, transform, read or default_loader
        self.fix = fix

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int):
        item, label = self.samples[i]
        try:
            image = self.read(item)
        except OSError as exc:  # removed or damaged after it was listed and fingerprinted
            where = item if isinstance(item, str) else f"image {i}"
            raise UserError(
                f"{where} was listed when the run started and cannot be read now "
                f"({type(exc).__name__}: {getattr(exc, 'strerror', None) or exc}); {self.fix}"
            ) from None
        return self.transform(image), label


def _pil_from_bytes(data: bytes):
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        return img.convert("RGB")


def _member_bytes(archive: Path, wanted: set[str]) -> Iterator[tuple[str, bytes]]:
    try:
        with open_archive(archive) as tf:
            for member in tf:
                if member.name in wanted and member.isfile():
                    yield member.name, tf.extractfile(member).read()
    except (tarfile.TarError, EOFError) as exc:
        raise UserError(
            f"cannot read archive {archive} ({type(exc).__name__}); check that it is a complete "
            ".tar or .tar.gz file"
        ) from None


def extract_archive(
    archive: Path, files: dict[str, list[tuple[str, int]]], cache_dir: Path
) -> tuple[dict[str, list[tuple[Any, int]]], Callable | None]:
    """The listed members of an image-folder archive as files ImageFolder-style loading can read:
    unpacked once into the cache (at ``<split>/<class>/<file>``, never outside that folder), keyed
    by the archive's bytes. Returns, per split, ``(path, class index)`` in ``files``' order and
    None (read them with torchvision's loader); when the cache cannot be written, the members'
    bytes held in memory and the reader for them instead (after one warning)."""
    folder = cache_dir / f"imagefolder-{cache.archive_key(archive)}-files"
    manifest = json.dumps({s: [name for name, _ in e] for s, e in sorted(files.items())})
    wanted = {name for entries in files.values() for name, _ in entries}

    def on_disk() -> dict[str, list[tuple[Any, int]]] | None:
        done = folder / "members.json"
        if not (done.is_file() and done.read_text() == manifest):
            return None
        found = {s: [(str(folder / extracted_name(n)), y) for n, y in e] for s, e in files.items()}
        # A copy that lost files (a cleaned cache, a user's rm) is made again, not read in part.
        return found if all(os.path.isfile(p) for e in found.values() for p, _ in e) else None

    if (found := on_disk()) is not None:
        return found, None
    slot = cache.folder_for(cache_dir, folder.name)
    if slot is not None:
        tmp = slot[0]
        try:
            for name, data in _member_bytes(archive, wanted):
                target = tmp / extracted_name(name)
                if not target.resolve().is_relative_to(tmp.resolve()):  # files.py refuses these
                    raise UserError(f"archive {archive}: {name!r} would land outside {tmp}")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            (tmp / "members.json").write_text(manifest)
        except OSError as exc:
            cache.warn_once(cache_dir, exc)
        else:
            if folder.exists() and on_disk() is None:
                shutil.rmtree(folder, ignore_errors=True)  # a stale or half-written copy
            cache.publish(tmp, folder)
            if (found := on_disk()) is not None:
                return found, None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)  # gone already when it was published
    blobs = dict(_member_bytes(archive, wanted))
    return {s: [(blobs[n], y) for n, y in e] for s, e in files.items()}, _pil_from_bytes


def torchvision_dataset(
    cfg: DataConfig,
    split: str,
    transform,
    *,
    files: dict[str, list[tuple[str, int]]] | None = None,
) -> torch.utils.data.Dataset:
    """torchvision's per-image dataset for ``cfg``'s source: the whole training set ('train', before
    the validation split) or the test set, with images in the order :func:`load_data` loads them.
    ``files``: an image folder's resolved list as loaded (``DataSplits.files``); listed again when
    not given."""
    from torchvision.datasets import CIFAR10

    cache_dir = Path(cfg.cache_dir) if cfg.cache_dir else default_cache_dir()
    if cfg.dataset == "cifar10":
        return CIFAR10(
            str(_cifar_root(cfg.data_dir, cache_dir)), train=split == "train", transform=transform
        )
    if cfg.dataset == "imagefolder":
        root = Path(cfg.data_dir)
        if root.is_dir():
            fix = f"restore it in {root}, or start a new run on the folder as it is now"
            return ListedImages((files or list_folder(root).files)[split], transform, fix=fix)
        samples, read = extract_archive(root, files or list_archive(root).files, cache_dir)
        fix = (
            f"it is resnet-lab's extracted copy of {root} in {cache_dir}, and something removed "
            "it; resume the run with --resume and the copy is made again"
        )
        return ListedImages(samples[split], transform, read, fix=fix)
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
        for x, y in _one_line_errors(loader):
            yield (
                x.to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format),
                y.to(self.device, non_blocking=True),
            )


def _one_line_errors(loader) -> Iterator[Any]:
    """``loader``'s batches; a worker's UserError comes back as the main process's own one-line
    error (DataLoader re-raises it with the worker's whole traceback as its message)."""
    try:
        yield from loader
    except UserError as exc:
        last = str(exc).strip().splitlines()[-1] if str(exc).strip() else ""
        raise UserError(last.split("UserError: ", 1)[-1]) from None
