"""The in-memory pipeline (uint8 tensors on the device, whole batches augmented at once), the batch
source both pipelines share, and :func:`make_batches`, which picks the configured one."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from .tensors import DataSplits, ImageTensors

if TYPE_CHECKING:
    from ..config import ExperimentConfig
    from .loader import LoaderBatches


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


class BatchSource:
    """What both pipelines share: the epoch counter, the batch count, and the generator seeded by
    (seed, epoch) that draws an epoch's order and augmentation, so an epoch can be replayed alone
    (a resumed run sees the batches the uninterrupted one would have)."""

    batch_size: int
    drop_last: bool
    seed: int
    epoch: int = 0
    # Images in the batch just yielded, over all ranks (under torchrun each rank gets a slice).
    last_global_size: int | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def items(self) -> int:
        raise NotImplementedError

    def __len__(self) -> int:
        n = self.items()
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def epoch_generator(self) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)


class Batches(BatchSource):
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
        shard: tuple[int, int] = (0, 1),
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
        # Under torchrun: (this rank, ranks). Every rank draws the whole global batch and its
        # augmentation from the same generator and keeps its slice, so the ranks together see
        # exactly the images one process would (distributed.py).
        self.rank, self.world = shard

    def items(self) -> int:
        return len(self.labels)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        g = self.epoch_generator()
        n = len(self.labels)
        order = torch.randperm(n, generator=g).to(self.device) if self.shuffle else None
        for b in range(len(self)):
            idx = slice(b * self.batch_size, (b + 1) * self.batch_size)
            sel = order[idx] if order is not None else idx
            x, y = self.images[sel], self.labels[sel]
            if self.augment:
                x = random_crop_flip(x, g)
            if self.world > 1:
                self.last_global_size = len(y)
                x, y = x.tensor_split(self.world)[self.rank], y.tensor_split(self.world)[self.rank]
            x = ((x.float() - self.mean) / self.std).contiguous(memory_format=self.memory_format)
            yield x, y


def make_batches(
    data: DataSplits, cfg: ExperimentConfig, device: torch.device
) -> dict[str, Batches | LoaderBatches]:
    """Train / val / test batch iterators of the configured pipeline (``cfg.data.pipeline``)."""
    from ..distributed import check_last_batch, place

    t = cfg.train
    if t.clean_train_images > len(data.train):
        from ..errors import note_once

        note_once(
            f"--clean-train-images {t.clean_train_images:,} is more than the {len(data.train):,} "
            "training images: all of them are the clean sample"
        )
    here = place()
    if here.active and cfg.data.pipeline == "dataloader":
        from ..errors import UserError

        raise UserError(
            "under torchrun the data are split by the in-memory pipeline; drop `data.pipeline=dataloader`"
        )
    check_last_batch(len(data.train), t.batch_size, here.world)
    if cfg.data.pipeline == "dataloader":
        from .loader import LoaderBatches, torchvision_dataset, torchvision_transform

        size = data.image_shape[-1]
        common = {"device": device, "channels_last": t.channels_last, "workers": cfg.data.workers}

        def loader(split: str, index, augment: bool, **kw) -> LoaderBatches:
            ds = torchvision_dataset(
                cfg.data,
                split,
                torchvision_transform(data.mean, data.std, size, augment),
                files=data.files,
            )
            if index is not None:
                ds = torch.utils.data.Subset(ds, index.tolist())
            return LoaderBatches(ds, **common, **kw)

        out = {
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
        if t.clean_train_images:
            pick = clean_sample(len(data.train), t.clean_train_images)
            index = data.train_index[pick] if data.train_index is not None else pick
            out["train_clean"] = loader("train", index, False, batch_size=t.eval_batch_size)
        return out
    common = {
        "mean": data.mean,
        "std": data.std,
        "device": device,
        "channels_last": t.channels_last,
        "shard": (here.rank, here.world),
    }
    out = {
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
    if t.clean_train_images:
        sample = data.train.subset(clean_sample(len(data.train), t.clean_train_images))
        out["train_clean"] = Batches(sample, batch_size=t.eval_batch_size, **common)
    return out


# The clean training sample is the same images for every run, model and seed of a data set.
CLEAN_SAMPLE_SEED = 0


def clean_sample(n_train: int, n: int) -> torch.Tensor:
    """Indices of the fixed training sample whose error is measured clean (eval mode, no
    augmentation) at every evaluation: what He et al.'s Figure 6 plots, as opposed to the running
    error averaged over an epoch of augmented batches while the weights move."""
    generator = torch.Generator().manual_seed(CLEAN_SAMPLE_SEED)
    return torch.randperm(n_train, generator=generator)[: min(n, n_train)]
