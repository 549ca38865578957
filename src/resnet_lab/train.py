"""The training loop: small functions plus named callback events (no branches for logging etc.).

``fit`` runs ``train_one_epoch`` and ``evaluate`` per epoch and calls ``on_fit_start``,
``on_batch_start``, ``on_after_backward``, ``on_batch_end``, ``on_epoch_end`` and ``on_fit_end`` on
each callback; console lines, metrics
files, TensorBoard and checkpoints are all callbacks (see ``runs.py``), so diagnostics can hook in
the same way without touching this file.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from . import escape
from .config import ExperimentConfig, OptimConfig, TrainConfig
from .data import Batches
from .distributed import all_min, all_sum, broadcast_buffers, check_batch, from_env, place
from .distributed import setup as setup_distributed
from .errors import UserError
from .models.paths import on_shortcut, shortcut_modules


class Callback:
    """Override any of these; each receives the live :class:`TrainState`."""

    def on_fit_start(self, state: TrainState) -> None: ...
    def on_batch_start(self, state: TrainState) -> None: ...  # before the forward pass
    def on_after_backward(self, state: TrainState) -> None: ...  # gradients ready, before the step
    def on_batch_end(self, state: TrainState) -> None: ...  # after the optimiser step
    def on_epoch_end(self, state: TrainState) -> None: ...
    def on_fit_end(self, state: TrainState) -> None: ...


@dataclass
class TrainState:
    name: str
    model: nn.Module
    optimizer: torch.optim.Optimizer
    config: ExperimentConfig
    num_classes: int
    epoch: int = 0  # epochs completed
    step: int = 0  # optimiser steps taken
    batch_loss: float | torch.Tensor = (
        math.nan
    )  # latest batch's loss (a tensor: no sync unless read)
    batch_correct: int | torch.Tensor = 0  # latest batch's correct predictions ...
    batch_size: int = 0  # ... out of this many
    history: list[dict[str, Any]] = field(default_factory=list)
    diverged_at_step: int | None = None
    # Small per-callback state that must survive a resume (e.g. whether warm-up has ended);
    # saved in every checkpoint.
    callback_state: dict[str, Any] = field(default_factory=dict)
    amp: bool = False  # bf16 autocast of forward pass and loss
    compiled: nn.Module | None = None  # torch.compile(model), used for steps nobody hooks into
    # Under torchrun: DistributedDataParallel(model), the forward of every step (it averages the
    # gradients over the ranks); ``compiled`` is then its compiled twin.
    parallel: nn.Module | None = None
    global_batch: int = 0  # under torchrun: images in this step's whole batch, over all ranks
    # Set by a callback in on_batch_start when it hooks into this step's modules (forward hooks):
    # the step then runs the plain model, because a compiled graph would not call the hooks.
    eager_step: bool = False
    # Set by a callback that has seen enough (e.g. escape.LossTrace once the run left ln C): the
    # loop ends after this step, as at max_steps.
    stop_requested: bool = False

    @property
    def done(self) -> bool:
        limit = self.config.train.max_steps
        return self.stop_requested or (limit is not None and self.step >= limit)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError(
            "`train.device=cuda` was asked for but no CUDA GPU is available; use `train.device=cpu` or auto"
        )
    return torch.device(name)


def setup_runtime(cfg: TrainConfig) -> torch.device:
    """The device to train on, with the process-wide speed settings applied (threads, cuDNN autotune)."""
    device = resolve_device(cfg.device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    # Under torchrun: join the process group (one GPU per local rank); a no-op otherwise.
    # Checked before the processes join, so that rank 0 alone says it (every rank finds the same).
    check_batch(cfg.batch_size, from_env().world)
    if cfg.sync_bn and from_env().active and device.type != "cuda":
        raise UserError(
            "`train.sync_bn` needs CUDA (SyncBatchNorm has no CPU kernels); drop it on CPUs, where each "
            "process normalises its own slice of the batch"
        )
    _, device = setup_distributed(device)
    if device.type == "cuda":
        # Picks the fastest conv algorithm per shape; the choice can vary between runs, which is one
        # reason CUDA runs are not bit-reproducible (docs/usage.md).
        torch.backends.cudnn.benchmark = True
    return device


def amp_enabled(cfg: TrainConfig, device: torch.device) -> bool:
    """Whether bf16 autocast is on: ``auto`` turns it on only for CUDA GPUs that support bf16."""
    if cfg.amp == "auto":
        return device.type == "cuda" and torch.cuda.is_bf16_supported()
    return cfg.amp == "bf16"


def autocast(enabled: bool, device: torch.device):
    return (
        torch.autocast(device.type, dtype=torch.bfloat16) if enabled else contextlib.nullcontext()
    )


def channels_last_safe(model: nn.Module, device: torch.device) -> bool:
    """False where torch's CPU kernels crash with channels_last: the backward of a 1x1 stride-2 conv
    with fewer than 16 input channels segfaults with 2 threads in torch 2.14 (e.g. Conv2d(8, 16, 1,
    stride=2) on a batch of 3; docs/results.md, "Known problems"), which the projection shortcuts of the seed
    ResNet have at width 0.125. Such runs use the default NCHW layout instead (same numbers, slower)."""
    return device.type != "cpu" or not any(
        isinstance(m, nn.Conv2d)
        and m.kernel_size == (1, 1)
        and m.stride != (1, 1)
        and m.in_channels < 16
        for m in model.modules()
    )


def prepare_model(
    model: nn.Module, cfg: TrainConfig, device: torch.device
) -> tuple[nn.Module, nn.Module | None]:
    """(the model on ``device`` in the configured memory format, its compiled twin or None). The two
    share parameters; checkpoints and diagnostics always use the plain one."""
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    model = model.to(device=device, memory_format=memory_format)
    return model, (torch.compile(model) if cfg.compile else None)


def build_optimizer(model: nn.Module, cfg: OptimConfig) -> torch.optim.Optimizer:
    if cfg.name == "sgd":
        return torch.optim.SGD(
            model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )
    if cfg.name == "adam":
        return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    raise UserError(f"unknown optimizer {cfg.name!r}; choose sgd or adam")


def _progress(iterable, desc: str, total: int):
    # A bar inside the epoch for people at a terminal; silent in logs, CI and pipes.
    return tqdm(
        iterable,
        desc=desc,
        total=total,
        leave=False,
        unit="batch",
        disable=not sys.stderr.isatty(),
        dynamic_ncols=True,
    )


def train_step(
    state: TrainState, x: torch.Tensor, y: torch.Tensor, callbacks: Sequence[Callback] = ()
) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward, backward (callbacks' on_after_backward) and optimiser step on one batch."""
    eager = state.parallel if state.parallel is not None else state.model
    forward = eager if state.compiled is None or state.eager_step else state.compiled
    with autocast(state.amp, x.device):
        logits = forward(x)
        loss = F.cross_entropy(logits, y)  # autocast computes it in fp32
    # A non-finite loss ends the run before its step is taken, so that the weights stay the last
    # finite ones (checkpointed as last.pt). Reading it is a sync per step: free on a CPU, and on a
    # GPU the price of never training on, or saving, weights that a NaN has reached.
    finite = torch.isfinite(loss.detach()).to(torch.float64)
    if not bool(all_min(finite).item()):  # under torchrun: any rank's non-finite loss stops all
        state.diverged_at_step = state.step + 1
        return logits, loss
    objective = loss
    if state.parallel is not None:
        # DDP averages the ranks' gradients with equal weights. Each rank's summed loss scaled by
        # ranks / global batch makes that average the gradient of the global batch's mean loss,
        # also when the last batch splits unevenly.
        objective = F.cross_entropy(logits.float(), y, reduction="sum") * (
            place().world / state.global_batch
        )
    state.optimizer.zero_grad(set_to_none=True)
    objective.backward()
    for cb in callbacks:
        cb.on_after_backward(state)
    state.optimizer.step()
    return logits, loss


def callback_step(
    state: TrainState, x: torch.Tensor, y: torch.Tensor, callbacks: Sequence[Callback] = ()
) -> torch.Tensor:
    """One optimiser step with its per-batch callback events, exactly as training runs it (also
    used by ``bench``); updates ``state.step`` and the ``batch_*`` fields and returns the loss."""
    state.eager_step = False
    for cb in callbacks:
        cb.on_batch_start(state)
    logits, loss = train_step(state, x, y, callbacks)
    if state.diverged_at_step is not None:
        return loss.detach()  # its step was not taken: not counted, no batch-end event
    state.step += 1
    state.batch_loss = loss.detach()
    state.batch_correct, state.batch_size = (logits.detach().argmax(1) == y).sum(), len(y)
    for cb in callbacks:
        cb.on_batch_end(state)
    return state.batch_loss


def train_one_epoch(
    state: TrainState, batches: Batches, callbacks: Sequence[Callback]
) -> dict[str, float]:
    """One pass over ``batches``; returns mean train loss and accuracy (%)."""
    state.model.train()
    loss_sum = torch.zeros((), device=batches.device, dtype=torch.float64)
    correct = torch.zeros((), device=batches.device, dtype=torch.int64)
    seen = 0
    desc = f"{state.name} epoch {state.epoch + 1}/{state.config.train.epochs}"
    for x, y in _progress(batches, desc, len(batches)):
        state.global_batch = batches.last_global_size or len(y)
        loss = callback_step(state, x, y, callbacks)
        if state.diverged_at_step is not None:
            break  # the non-finite step was not taken: the epoch's numbers are the finite steps'
        loss_sum += loss.double() * len(y)
        correct += state.batch_correct
        seen += len(y)
        if state.done:
            break
    # Under torchrun each rank saw its slice of every batch: the epoch's numbers are over all of them.
    loss_sum, correct, total = all_sum(
        loss_sum, correct, torch.tensor(seen, device=loss_sum.device)
    )
    if not total.item():  # the epoch's first step was non-finite: no finite step to average
        return {"loss": math.nan, "acc": math.nan}
    return {"loss": loss_sum.item() / total.item(), "acc": 100.0 * correct.item() / total.item()}


@torch.inference_mode()
def evaluate(
    model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], amp: bool = False
) -> dict[str, float]:
    """Mean loss and accuracy (%) over ``batches`` in eval mode, without autograd."""
    model.eval()
    loss_sum, correct, seen = 0.0, 0, 0
    for x, y in batches:
        with autocast(amp, x.device):
            logits = model(x)
        loss_sum += F.cross_entropy(logits.float(), y, reduction="sum").item()
        # An image whose logits are not finite is not a prediction: counted wrong, never as
        # argmax's pick among NaNs.
        correct += ((logits.argmax(1) == y) & torch.isfinite(logits).all(1)).sum().item()
        seen += len(y)
    if place().active:  # each rank evaluated its slice of the split
        loss_sum, correct, seen = (
            t.item() for t in all_sum(*map(torch.tensor, (loss_sum, correct, seen)))
        )
    return {"loss": loss_sum / seen, "acc": 100.0 * correct / seen}


def main_path_depth(model: nn.Module) -> int:
    """Weight layers (convs + linears) on the main path, i.e. not in a shortcut: resnet110 -> 110,
    torchvision's resnet18 -> 18 (its ``downsample`` convs are on shortcuts)."""
    shortcuts = shortcut_modules(model)
    return sum(
        1
        for name, m in model.named_modules()
        if isinstance(m, (nn.Conv2d, nn.Linear)) and not on_shortcut(name, shortcuts)
    )


class LRSchedule(Callback):
    """Step-wise learning rate (He et al.): ``lr * gamma**k`` after the k-th milestone (in optimiser
    steps), with an optional warm-up at ``warmup_lr`` for nets of at least ``warmup_min_depth``
    layers, held until the running training error falls below ``warmup_until_error`` percent."""

    WINDOW = 20  # batches in the running training error that ends the warm-up

    def __init__(self, cfg: OptimConfig):
        self.cfg = cfg

    def lr_at(self, step: int) -> float:
        return self.cfg.lr * self.cfg.gamma ** sum(step >= m for m in self.cfg.milestones)

    def on_fit_start(self, state: TrainState) -> None:
        wanted = (
            self.cfg.warmup_lr is not None
            and main_path_depth(state.model) >= self.cfg.warmup_min_depth
        )
        state.callback_state.setdefault("warming_up", wanted)

    def on_batch_start(self, state: TrainState) -> None:
        warming = state.callback_state.get("warming_up", False)
        lr = self.cfg.warmup_lr if warming else self.lr_at(state.step)
        for group in state.optimizer.param_groups:
            group["lr"] = lr

    def on_batch_end(self, state: TrainState) -> None:
        if not state.callback_state.get("warming_up"):
            return
        # The window lives in callback_state, which checkpoints save: a resume during the warm-up
        # continues with the same running error as the uninterrupted run. Under torchrun the
        # error is the global batch's, so that every rank ends the warm-up at the same step.
        correct, size = all_sum(
            torch.as_tensor(state.batch_correct, dtype=torch.float64),
            torch.tensor(float(state.batch_size), dtype=torch.float64),
        )
        recent = (
            state.callback_state.get("warmup_recent", [])
            + [100.0 * (1 - float(correct) / float(size))]
        )[-self.WINDOW :]
        state.callback_state["warmup_recent"] = recent
        if len(recent) == self.WINDOW and sum(recent) / self.WINDOW < self.cfg.warmup_until_error:
            state.callback_state["warming_up"] = False
            state.callback_state["warmup_ended_at_step"] = state.step


class LossTrace(Callback):
    """Records ``[step, training loss]`` every ``every`` steps into ``state.callback_state`` (so a
    resumed run keeps its trace), and with ``stop_after`` ends training that many steps after the
    run has left the plateau (the escape as known so far), for studies that need only the escape."""

    def __init__(self, every: int = escape.TRACE_EVERY, stop_after: int | None = None):
        self.every, self.stop_after = every, stop_after

    def on_batch_end(self, state: TrainState) -> None:
        if state.step % self.every:
            return
        # Under torchrun each rank has its slice's loss: the global batch's mean, so that every rank
        # records the same trace and stops at the same step.
        total, size = all_sum(
            torch.as_tensor(state.batch_loss, dtype=torch.float64) * state.batch_size,
            torch.tensor(float(state.batch_size), dtype=torch.float64),
        )
        trace = state.callback_state.setdefault(escape.TRACE_KEY, [])
        trace.append([state.step, float(total / size)])
        if self.stop_after is None:
            return
        escaped = escape.escape_step(trace, state.num_classes)
        if escaped is not None and state.step >= escaped + self.stop_after:
            state.stop_requested = True


def format_epoch_line(
    epoch: int, train: dict[str, float], val: dict[str, float], width: int = 2
) -> str:
    """The seed's log line, e.g. ``[Epoch 01] train 2.3032/10.00% | val 2.3029/10.00%``."""
    return (
        f"[Epoch {epoch:0{width}d}] train {train['loss']:.4f}/{train['acc']:.2f}% | "
        f"val {val['loss']:.4f}/{val['acc']:.2f}%"
    )


class EpochPrinter(Callback):
    """Prints the seed-format line after every epoch."""

    def __init__(self, stream=None):
        self.stream = stream

    def on_epoch_end(self, state: TrainState) -> None:
        rec = state.history[-1]
        width = max(2, len(str(state.config.train.epochs)))
        line = format_epoch_line(rec["epoch"], rec["train"], rec["val"], width)
        if state.diverged_at_step is not None:
            line += (
                f"\n{state.name} diverged: non-finite training loss at step "
                f"{state.diverged_at_step:,}; that step was not taken, training stopped, and the "
                "checkpoint holds the weights before it"
            )
        print(line, file=self.stream or sys.stdout, flush=True)


def fit(
    state: TrainState, batches: dict[str, Batches], callbacks: Sequence[Callback] = ()
) -> list[dict[str, Any]]:
    """Train ``state.model`` for the configured epochs; returns the per-epoch history.

    A non-finite training loss stops the run (recorded in ``state.diverged_at_step``): the
    weights are then meaningless, and further epochs would only burn time.
    """
    for cb in callbacks:
        cb.on_fit_start(state)
    for epoch in range(state.epoch, state.config.train.epochs):
        batches["train"].set_epoch(epoch)
        start = time.perf_counter()
        train = train_one_epoch(state, batches["train"], callbacks)
        broadcast_buffers(state.model)  # under torchrun: evaluate rank 0's model on every rank
        # Every held-out split but the test set (val, and train_clean if configured) after each epoch.
        evals = {
            split: evaluate(state.model, b, state.amp)
            for split, b in batches.items()
            if split not in ("train", "test")
        }
        state.epoch = epoch + 1
        state.history.append(
            {
                "epoch": state.epoch,
                "step": state.step,
                "train": train,
                **evals,
                "lr": state.optimizer.param_groups[0]["lr"],
                "seconds": round(time.perf_counter() - start, 3),
            }
        )
        for cb in callbacks:
            cb.on_epoch_end(state)
        if state.diverged_at_step is not None:
            break
        if state.done:
            break
    for cb in callbacks:
        cb.on_fit_end(state)
    return state.history
