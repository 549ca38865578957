"""Run directories, checkpoints and provenance.

Layout of one model's run directory (``compare`` makes one per model under its own directory)::

    <run>/
      run.json             name, status ("running" -> "completed" | "diverged"), timings, results
      config.yaml          the resolved experiment config
      metrics.jsonl        one JSON object per epoch: epoch, step, train/val loss + acc, seconds
      checkpoints/
        epoch0000.pt       the model at initialisation (before the first step)
        last.pt            the latest completed epoch (what a resume continues from)
        final.pt           the model after the last epoch
      tensorboard/         TensorBoard: scalars per epoch; weight and gradient histograms every
                           ``diag_every`` steps
      diagnostics.jsonl    per-layer statistics (docs/diagnostics.md)
      diagnosis.json       the before/after analysis and verdicts (docs/diagnostics.md)

A checkpoint is a plain dict loadable with ``torch.load(path)`` (``weights_only`` safe):
``format``, ``version``, ``model`` (registry name), ``model_options``, ``state_dict``, ``epoch``,
``step``, ``config`` (nested dict), ``history`` (the metrics so far), ``optimizer`` (its state_dict)
and ``callback_state``.
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .distributed import place
from .errors import UserError
from .files import (  # noqa: F401 - re-exported
    append_text,
    atomic_write_bytes,
    metric_line,
    strict_json,
    write_json,
    write_text,
)
from .train import Callback, TrainState

if TYPE_CHECKING:
    from .data import DataSplits

CHECKPOINT_FORMAT = "resnet-lab-checkpoint"
CHECKPOINT_VERSION = 1


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def write_yaml(path: Path, obj: Any) -> None:
    import yaml

    atomic_write_bytes(path, lambda fh: fh.write(yaml.safe_dump(obj, sort_keys=False).encode()))


def save_checkpoint(
    path: Path,
    state: TrainState,
    *,
    model_name: str,
    model_options: dict[str, Any],
    config: dict[str, Any],
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "model": model_name,
        "model_options": model_options,
        "state_dict": {k: v.detach().cpu() for k, v in state.model.state_dict().items()},
        "epoch": state.epoch,
        "step": state.step,
        "config": config,
        "history": state.history,
        "optimizer": state.optimizer.state_dict(),
        "callback_state": state.callback_state,
    }
    atomic_write_bytes(path, lambda fh: torch.save(blob, fh))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load and check a resnet-lab checkpoint; UserError names what is wrong with it."""
    path = Path(path)
    if not path.is_file():
        raise UserError(
            f"checkpoint {path} does not exist; pass the path of a .pt file in a run's "
            "checkpoints/ folder"
        )
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch.load fails in many ways on a bad file
        raise UserError(
            f"checkpoint {path} is unreadable or truncated ({type(exc).__name__}); "
            "use another checkpoint or re-run training"
        ) from None
    if not isinstance(blob, dict) or blob.get("format") != CHECKPOINT_FORMAT:
        raise UserError(f"{path} is not a resnet-lab checkpoint; pass one written by resnet-lab")
    from .registry import get_builder, is_external, list_models

    name = blob.get("model")
    if not isinstance(name, str):
        raise UserError(f"{path} names no model; pass a checkpoint written by resnet-lab")
    if is_external(name):
        try:
            get_builder(name)
        except UserError as exc:
            raise UserError(
                f"checkpoint {path} holds your model {name!r}, which cannot be rebuilt here: {exc}. "
                "Run from the directory it was trained in, or make that module importable"
            ) from None
    elif name not in list_models():
        raise UserError(
            f"checkpoint {path} holds model {name!r}, which is not registered "
            f"here; known models: {', '.join(list_models())}"
        )
    wrong = [k for k, kind in CHECKPOINT_FIELDS.items() if not isinstance(blob.get(k), kind)]
    if wrong:
        raise UserError(
            f"checkpoint {path} lacks or mistypes {', '.join(wrong)}; it is damaged or was not "
            "written by resnet-lab: use another checkpoint or re-run training"
        )
    return blob


# What every reader of a checkpoint relies on (load_checkpoint checks each is there with its type).
CHECKPOINT_FIELDS = {
    "model_options": dict,
    "state_dict": dict,
    "epoch": int,
    "step": int,
    "config": dict,
    "history": list,
    "optimizer": dict,
}


def peak_memory(device: torch.device | None = None) -> dict[str, float]:
    """Peak resident memory of this process so far (MiB; Linux reports ru_maxrss in KiB, macOS in
    bytes) and, on a GPU, the peak memory PyTorch allocated there."""
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = {"peak_rss_mib": round(rss / (2**20 if sys.platform == "darwin" else 2**10), 1)}
    if device is not None and device.type == "cuda":
        out["peak_cuda_mib"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return out


def cpu_description() -> str:
    """The CPU's model name and the instruction sets that decide bf16 speed, e.g. 'AMD EPYC (AVX512, avx512_bf16)'.

    Recorded because the project's VMs differ between sessions (one had AMX, where bf16 autocast ran
    ~5x faster than fp32; one without, where it ran 1.1-1.8x) and CPU kernels, hence the last digits
    of a run, differ between CPU models.
    """
    name, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    name = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                    break
    except OSError:  # not Linux: the model name from platform is all there is
        pass
    features = [torch.backends.cpu.get_cpu_capability()]
    features += sorted(flags & {"avx512_bf16", "amx_bf16"})
    return f"{name} ({', '.join(features)})"


def recorded_provenance(run_json: Path) -> dict[str, Any]:
    """The provenance an earlier invocation wrote into ``run.json`` ({} if none is readable)."""
    try:
        prov = json.loads(run_json.read_text())["provenance"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return prov if isinstance(prov, dict) else {}


def finishing_provenance(prov: dict[str, Any], study_file: Path, trained: bool) -> dict[str, Any]:
    """The provenance a study file is written with: this invocation's, finished now; or, when it
    trained nothing (every run had finished earlier), the one ``study_file`` already holds, so that
    running a finished study again rebuilds its report without moving when it ran."""
    earlier = {} if trained else recorded_provenance(study_file)
    return earlier or {**prov, "finished": now()}


def recorded_start(run_json: Path) -> str | None:
    """The provenance start an earlier invocation wrote into ``run.json``, if any."""
    started = recorded_provenance(run_json).get("started")
    return started if isinstance(started, str) else None


def provenance(device: torch.device, data: DataSplits) -> dict[str, Any]:
    """Where and with what a study ran, including the data's fingerprint (checked on resume)."""
    import numpy
    import torchvision

    return {
        "command": " ".join(["resnet-lab"] + sys.argv[1:]),
        "started": now(),
        "host": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": numpy.__version__,
        "device": str(device)
        + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""),
        "cpu": cpu_description(),
        "cpu_threads": torch.get_num_threads(),
        "data": data.source,
        "data_fingerprint": data.fingerprint(),
    }


def resume_state(run_dir: Path, state: TrainState) -> bool:
    """Load ``run_dir/checkpoints/last.pt`` into ``state`` (model, optimiser, counters, history).

    Returns False when there is nothing to resume. The data order and augmentation of an epoch are
    seeded by (seed, epoch), so the continued run sees the batches the uninterrupted one would have.
    """
    path = run_dir / "checkpoints" / "last.pt"
    if not path.is_file():
        return False
    blob = load_checkpoint(path)
    state.model.load_state_dict(blob["state_dict"])
    state.optimizer.load_state_dict(blob["optimizer"])
    state.epoch, state.step = blob["epoch"], blob["step"]
    state.history = list(blob["history"])
    state.callback_state = dict(blob.get("callback_state", {}))
    # metrics.jsonl may hold epochs written after last.pt; keep exactly the checkpointed history
    # (rank 0 alone under torchrun: every rank read the same checkpoint, one writes).
    if place().is_main:
        metrics = run_dir / "metrics.jsonl"
        atomic_write_bytes(
            metrics,
            lambda fh: fh.write("".join(map(metric_line, state.history)).encode()),
        )
    return True


class RunRecorder(Callback):
    """Writes a model's run directory: run.json, config, metrics.jsonl, TensorBoard, checkpoints."""

    def __init__(
        self,
        run_dir: Path,
        *,
        model_name: str,
        model_options: dict[str, Any],
        config: dict[str, Any],
        extra: dict[str, Any],
        tensorboard: bool = True,
        histogram_every: int = 0,
    ):
        self.dir = run_dir
        self.model_name, self.model_options, self.config = model_name, model_options, config
        self.extra = extra
        self.tensorboard = tensorboard
        self.histogram_every = histogram_every
        self.writer = None

    def _ckpt(self, state: TrainState, name: str) -> None:
        save_checkpoint(
            self.dir / "checkpoints" / name,
            state,
            model_name=self.model_name,
            model_options=self.model_options,
            config=self.config,
        )

    def _status(self, status: str, **more: Any) -> None:
        write_json(
            self.dir / "run.json",
            {
                "model": self.model_name,
                "model_options": self.model_options,
                "status": status,
                **self.extra,
                **more,
            },
        )

    def on_fit_start(self, state: TrainState) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        write_yaml(self.dir / "config.yaml", self.config)
        if state.step == 0:
            self._status("running", started=now())
            self._ckpt(state, "epoch0000.pt")
        else:
            # A resumed run keeps the start of the invocation that began it (the rest of its
            # provenance is this invocation's: the machine that finishes it).
            first = recorded_start(self.dir / "run.json")
            if first and isinstance(self.extra.get("provenance"), dict):
                self.extra = {
                    **self.extra,
                    "provenance": {**self.extra["provenance"], "started": first},
                }
            self._status("running", resumed=now(), resumed_at_step=state.step)
        if self.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=str(self.dir / "tensorboard"))

    def on_after_backward(self, state: TrainState) -> None:
        # Histograms of weights and their gradients, at the diagnostics' recording interval.
        if (
            self.writer is None
            or not self.histogram_every
            or (state.step + 1) % self.histogram_every
        ):
            return
        for name, p in state.model.named_parameters():
            self.writer.add_histogram(f"weights/{name}", p.detach().cpu(), state.step + 1)
            if p.grad is not None:
                self.writer.add_histogram(f"grads/{name}", p.grad.detach().cpu(), state.step + 1)

    def on_epoch_end(self, state: TrainState) -> None:
        rec = state.history[-1]
        append_text(self.dir / "metrics.jsonl", metric_line(rec))
        if self.writer is not None:
            for split in ("train", "val", "train_clean"):
                for metric in ("loss", "acc") if split in rec else ():
                    self.writer.add_scalar(f"{metric}/{split}", rec[split][metric], rec["epoch"])
            self.writer.add_scalar("lr", rec["lr"], rec["epoch"])
            self.writer.flush()
        every = state.config.train.checkpoint_every
        # The step with a non-finite loss is never taken (train.train_step), so the weights are the
        # last finite ones, kept in last.pt also when the run stops there. Weights a NaN reached
        # anyway (a finite loss with non-finite gradients) never replace a finite checkpoint.
        due = state.epoch % every == 0 or state.diverged_at_step is not None
        if due and all(torch.isfinite(p).all() for p in state.model.parameters()):
            self._ckpt(state, "last.pt")

    def on_fit_end(self, state: TrainState) -> None:
        self._ckpt(state, "final.pt")
        if self.writer is not None:
            self.writer.close()

    def finish(self, status: str, **results: Any) -> None:
        """Mark the run finished; only now does run.json claim a result."""
        self._status(status, finished=now(), **results)
