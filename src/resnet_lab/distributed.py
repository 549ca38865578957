"""Data-parallel training under ``torchrun``: the process group, this process's place in it, and the
few collectives the training loop needs.

PyTorch's own engine does the work: ``torchrun`` starts one process per GPU (or per CPU socket)
and sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous address;
:func:`setup` joins the process group from that environment (NCCL on CUDA, Gloo on CPU) and
``DistributedDataParallel`` (experiment.py) averages the gradients. Each rank takes its slice of
every global batch (data/batches.py), so an epoch sees the same images, in the same order, with
the same augmentation as one process with the same global batch; ``--batch-size`` stays the global
batch. Only rank 0 prints, writes the run directory, checkpoints, diagnostics and the report
(:attr:`Place.is_main`); every rank resumes from the same checkpoint.

Without ``torchrun`` (``WORLD_SIZE`` unset or 1) nothing here does anything.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import UserError

if TYPE_CHECKING:  # torch is imported where it is used: the CLI imports this module for --help too
    import torch


@dataclass(frozen=True)
class Place:
    """This process's rank among ``world`` processes (``local``: its rank on this machine)."""

    rank: int = 0
    world: int = 1
    local: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


_PLACE = Place()  # set by setup(); one process group per process


def place() -> Place:
    return _PLACE


def from_env() -> Place:
    """The place torchrun gave this process (rank 0 of 1 without torchrun)."""
    try:
        return Place(
            int(os.environ.get("RANK", "0")),
            int(os.environ.get("WORLD_SIZE", "1")),
            int(os.environ.get("LOCAL_RANK", "0")),
        )
    except ValueError:
        raise UserError(
            "RANK / WORLD_SIZE / LOCAL_RANK are not integers; start resnet-lab with torchrun"
        ) from None


def check_batch(global_batch: int, world: int) -> None:
    """The global batch must split evenly over the ranks (else the ranks' gradients would be means
    over different numbers of images)."""
    if world > 1 and global_batch % world:
        lower = global_batch - global_batch % world
        sizes = [s for s in (lower, lower + world) if s > 0]
        raise UserError(
            f"`train.batch_size={global_batch}` (the global batch) does not split over {world} processes; "
            f"use {' or '.join(map(str, sizes))}, or another --nproc-per-node"
        )


def check_last_batch(n_train: int, global_batch: int, world: int) -> None:
    """Every process must get at least one image of the last (partial) batch of an epoch."""
    last = n_train % global_batch
    if world > 1 and 0 < last < world:
        raise UserError(
            f"the last training batch of {last} image(s) cannot give each of {world} processes one; "
            f"change `train.batch_size` or `data.train_subset` so that {n_train:,} images end in a batch "
            "of at least that many"
        )


def setup(device: torch.device, backend: str | None = None) -> tuple[Place, torch.device]:
    """Join torchrun's process group (if any); returns this process's place and its device (under
    torchrun on CUDA: the GPU of its local rank)."""
    global _PLACE
    here = from_env()
    if not here.active:
        _PLACE = here
        return here, device
    import torch
    import torch.distributed as dist

    backend = backend or ("nccl" if device.type == "cuda" else "gloo")
    if backend == "nccl" and not torch.cuda.is_available():
        raise UserError(
            "NCCL needs CUDA GPUs and none is available; run on GPUs or use `train.device=cpu`"
        )
    if device.type == "cuda":
        torch.cuda.set_device(here.local)
        device = torch.device("cuda", here.local)
    if not dist.is_initialized():
        # How long to wait for the other ranks (and, later, for any collective): 10 minutes, or
        # RESNET_LAB_DIST_TIMEOUT seconds.
        seconds = float(os.environ.get("RESNET_LAB_DIST_TIMEOUT", "600"))
        try:
            dist.init_process_group(backend, timeout=datetime.timedelta(seconds=seconds))
        except Exception as exc:  # noqa: BLE001 - rendezvous failures come as many types
            _PLACE = here  # so that this rank says its own failure (cli/guard.py: say)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(
                f"cannot join the torchrun process group ({first}); check --rdzv-endpoint / "
                "--master-addr and that every node can reach it"
            ) from None
    _PLACE = here
    return here, device


def all_sum(*values: torch.Tensor) -> list[torch.Tensor]:
    """The sums over all ranks of ``values`` (float64 on their device); the values themselves alone."""
    if not _PLACE.active:
        return list(values)
    import torch
    import torch.distributed as dist

    packed = torch.stack([v.to(device=values[0].device, dtype=torch.float64) for v in values])
    if dist.get_backend() == "nccl":
        packed = packed.cuda()
    dist.all_reduce(packed)
    return list(packed.to(values[0].device).unbind())


def all_min(value: torch.Tensor) -> torch.Tensor:
    """The minimum of ``value`` over all ranks (itself in one process)."""
    if not _PLACE.active:
        return value
    import torch.distributed as dist

    out = value.clone()
    dist.all_reduce(out, op=dist.ReduceOp.MIN)
    return out


def broadcast_buffers(model: torch.nn.Module) -> None:
    """Give every rank rank 0's buffers (BatchNorm running statistics drift apart after the last
    step: DDP broadcasts them only at the start of a training forward), so that the ranks evaluate
    together exactly the model rank 0 saves."""
    if not _PLACE.active:
        return
    import torch.distributed as dist

    for buffer in model.buffers():
        dist.broadcast(buffer, src=0)


def barrier() -> None:
    """Wait for every rank (after rank 0 wrote something the others read)."""
    if _PLACE.active:
        import torch.distributed as dist

        dist.barrier()


def wrap(model: torch.nn.Module, device: torch.device, sync_bn: bool) -> torch.nn.Module | None:
    """The DistributedDataParallel wrapper of ``model`` (None in one process). ``sync_bn``: turn
    BatchNorm layers into SyncBatchNorm first (batch statistics over the global batch)."""
    if not _PLACE.active:
        return None
    import torch
    from torch.nn.parallel import DistributedDataParallel

    if sync_bn:
        torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


# What a collective raises when another rank is gone (killed, out of memory, its node lost): Gloo's
# "Connection reset by peer" / "Connection closed by peer" comes as a plain RuntimeError. (Not any
# message naming Gloo or NCCL: their other errors are not a lost process.)
_LOST_PEER = ("connection reset", "connection closed", "broken pipe")


def lost_peer(exc: BaseException) -> str | None:
    """The one-line reason when ``exc`` says that another process of this torchrun job is gone
    (None: not that, or not under torchrun)."""
    if not _PLACE.active or not isinstance(exc, RuntimeError):
        return None
    import torch.distributed as dist

    lines = str(exc).strip().splitlines()
    first = lines[0] if lines else type(exc).__name__
    if not (isinstance(exc, dist.DistError) or any(k in first.lower() for k in _LOST_PEER)):
        return None
    first = first.split("] ", 1)[-1] if first.startswith("[") else first  # Gloo's source location
    first = first.split(". This is typically")[0]
    return f"another process of this torchrun job is gone ({first})"
