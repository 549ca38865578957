"""One model run, the unit every command is made of: build, train, judge, diagnose, record.

``compare`` (the seed's models), ``sweep`` and ``grid`` (one run per cell and seed) and
``bench`` (timed steps of a fresh model) all build and train through this module, so a model is
seeded, built, trained and judged the same way whichever command asked for it.

A run writes one run directory (layout in ``runs.py``) and returns a :class:`ResultRow`. The
status and problem of a run are computed by :func:`judge` from the run's own numbers with the
thresholds named below; nothing is written in advance.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

import torch

from .config import ExperimentConfig, ModelConfig, to_dict
from .data import DataSplits, make_batches
from .data.tensors import same_data
from .diagnostics.diagnose import diagnose_states, fixed_batch, problem_summary
from .diagnostics.hooks import DiagnosticsCallback
from .distributed import barrier, place, wrap
from .errors import UserError, note_once
from .escape import ESCAPE_WINDOW, TRACE_EVERY, TRACE_KEY, escape_step
from .files import read_history
from .outcome import Outcome
from .registry import architecture, create_model, last_line, model_options
from .runs import RunRecorder, load_checkpoint, recorded_provenance, resume_state, write_json
from .train import (
    Callback,
    EpochPrinter,
    LossTrace,
    LRSchedule,
    TrainState,
    amp_enabled,
    build_optimizer,
    channels_last_safe,
    evaluate,
    fit,
    prepare_model,
)

# A run "stayed at ln C" when every epoch's mean training loss is within this of ln(num_classes):
# the seed's DeepCNN logged 2.3032 -> 2.3026 over 20 epochs, i.e. within 0.001.
STUCK_LOSS_TOLERANCE = 0.01
# A run "failed" when its best validation accuracy is within this many points of chance (10 % for
# CIFAR-10); the seed's failed run sat at exactly 10.00 %.
CHANCE_MARGIN_POINTS = 2.0
MODEL_FIELDS = {f.name: f for f in dataclasses.fields(ModelConfig)}
# Train-minus-validation accuracy gap (points) above which the problem column notes overfitting.
OVERFIT_GAP_POINTS = 15.0


@dataclass(frozen=True)
class Judgement:
    """How a run ended, by the rules above. ``reason`` is the rule that decided it (structured, so
    nobody has to parse ``problem`` back): diverged | stuck_at_ln_c | chance | overfitting | none."""

    status: str  # learned | failed
    reason: str
    problem: str  # the same, as a sentence for the results table


class ResultRow(TypedDict, total=False):
    """One finished run, as results.json / sweep.json / grid.json store it."""

    model: str
    params: int
    status: str  # learned | failed
    reason: str  # Judgement.reason
    outcome_problem: str  # the judged problem alone ("none" when it learned cleanly)
    problem: str  # outcome_problem; diagnosis summary (the table's problem column)
    left_ln: bool  # the training loss left ln C in some epoch
    # First step from which the running training loss stays below ln C - delta (escape.py); None:
    # never left, i.e. censored at ``steps``; absent when the run was too short to tell.
    escape_step: int | None
    diverged_at_step: int | None
    best_val_acc: float
    best_val_epoch: int
    final_val_acc: float
    final_train_loss: float
    final_train_acc: float  # running: mean over the last epoch's augmented batches
    final_train_clean_acc: float | None  # the fixed clean training sample (None: not measured)
    steps: int
    test_acc: float
    test_loss: float
    epochs: int
    seconds: float
    verdict_init: str
    predicted_init: str | None  # diagnostics/predict.py's outcome at init (None: not judged)
    verdict_final: str
    first_to_last_grad_init: float
    backward_change_init: float | None  # fitted change of the backward signal toward the input
    finding: str
    seed: int  # compare and grid: the training seed of this run
    run: str  # compare and grid: its run directory's name


def stayed_at_ln_c(history: list[dict[str, Any]], num_classes: int) -> bool:
    """Every epoch's mean training loss within STUCK_LOSS_TOLERANCE of ln C (the seed's failure)."""
    ln_c = math.log(num_classes)
    return all(abs(e["train"]["loss"] - ln_c) <= STUCK_LOSS_TOLERANCE for e in history)


def judge(
    history: list[dict[str, Any]], num_classes: int, diverged_at_step: int | None = None
) -> Judgement:
    """Status and problem of a run from its per-epoch history. Status is "learned" or "failed"."""
    ln_c = math.log(num_classes)
    chance = 100.0 / num_classes
    if diverged_at_step is not None or any(not math.isfinite(e["train"]["loss"]) for e in history):
        return Judgement(
            Outcome.FAILED,
            Outcome.DIVERGED,
            "non-finite output from the start: the first batch's loss, before any update, is not "
            "finite: the forward pass itself, before any gradient step"
            if diverged_at_step == 1
            else f"diverged: non-finite loss at step {diverged_at_step} (exploding)",
        )
    best_val = max(e["val"]["acc"] for e in history)
    if stayed_at_ln_c(history, num_classes):
        return Judgement(
            Outcome.FAILED,
            "stuck_at_ln_c",
            f"loss stayed at ln {num_classes} = {ln_c:.4f} (within {STUCK_LOSS_TOLERANCE}) "
            f"for all {len(history)} epochs: no learning",
        )
    if best_val <= chance + CHANCE_MARGIN_POINTS:
        return Judgement(
            Outcome.FAILED,
            "chance",
            f"validation accuracy stayed at chance ({best_val:.2f}% vs {chance:.0f}%)",
        )
    last = history[-1]
    gap = last["train"]["acc"] - last["val"]["acc"]
    if gap > OVERFIT_GAP_POINTS:
        return Judgement(
            Outcome.LEARNED,
            "overfitting",
            f"overfitting: train {last['train']['acc']:.1f}% vs val {last['val']['acc']:.1f}%",
        )
    return Judgement(Outcome.LEARNED, "none", "none")


# The shared model settings every saved config held before they became "each model's own" (unset):
# a run written then names them without its user having chosen them, so a model without such an
# option drops it instead of refusing the run's config (its model is built exactly as then).
LEGACY_MODEL_DEFAULTS = {"init": "default", "norm": "none", "shortcut": "A"}


def builder_options(name: str, cfg: ExperimentConfig, data: DataSplits) -> dict[str, Any]:
    """The options model ``name`` is built with: the shared ``cfg.model`` settings it accepts
    (unset ones, ``None``, leave the builder's default) and the data's class count, channels and
    image size."""
    allowed = model_options(name)
    # An option only some models take (unset by default) must not be dropped silently: --skip off on
    # a model without skips would otherwise train something other than what was asked for.
    refused = sorted(
        k
        for k, f in MODEL_FIELDS.items()
        if f.default is None
        and getattr(cfg.model, k) not in (None, LEGACY_MODEL_DEFAULTS.get(k))
        and k not in allowed
    )
    if refused:
        raise UserError(
            f"model {name!r} has no {', '.join(refused)} option (it accepts: {', '.join(allowed)}); "
            f"unset model.{refused[0]} or choose models that take it"
        )
    options = {k: v for k, v in vars(cfg.model).items() if k in allowed and v is not None}
    shape = {
        "num_classes": data.num_classes,
        "in_channels": data.image_shape[0],
        "input_size": data.image_shape[-1],
    }
    options.update(
        {k: v for k, v in shape.items() if k in allowed}
    )  # a factory of your own may take none
    return options


def check_model(name: str, model: torch.nn.Module, data: DataSplits) -> None:
    """One forward pass on two blank images of the data's shape must give (2, classes) logits; said
    in one line before anything is written (a model of your own may not fit the data)."""
    x = torch.zeros(2, *data.image_shape)
    try:
        with torch.no_grad():
            out = model.eval()(x)
    except Exception as exc:  # noqa: BLE001 - the model's own code: any failure becomes one line naming it
        raise UserError(
            f"model {name!r} fails on the data's {tuple(data.image_shape)} images "
            f"({last_line(exc)}); make it accept that input"
        ) from None
    finally:
        model.train()
    if not any(p.requires_grad for p in model.parameters()):
        raise UserError(
            f"model {name!r} has no trainable parameters, so there is nothing to train; give it "
            "layers with weights (nn.Parameter, requires_grad)"
        )
    if isinstance(out, torch.Tensor) and not out.is_floating_point():
        raise UserError(
            f"model {name!r} returns {out.dtype} logits; return floating-point logits (no "
            "argmax, rounding or .long() at the end)"
        )
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, data.num_classes):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise UserError(
            f"model {name!r} returns {got} for a batch of 2 images; it must return (batch, "
            f"{data.num_classes}) logits for this data's {data.num_classes} classes"
        )


def build_state(
    name: str,
    cfg: ExperimentConfig,
    data: DataSplits,
    device: torch.device,
) -> tuple[TrainState, dict[str, Any], int]:
    """A freshly initialised model on ``device`` with its optimiser: (state, builder options,
    parameter count). Seeded by ``cfg.train.seed`` so the same config always gives the same init."""
    options = builder_options(name, cfg, data)
    torch.manual_seed(cfg.train.seed)  # same seed -> same init for every model and every rerun
    model = create_model(name, **options)
    params = sum(p.numel() for p in model.parameters())
    if cfg.train.channels_last and not channels_last_safe(model, device):
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, channels_last=False))
    model, compiled = prepare_model(model, cfg.train, device)
    parallel = wrap(model, device, cfg.train.sync_bn)  # None in one process
    if parallel is not None and cfg.train.compile:
        compiled = torch.compile(parallel)
    state = TrainState(
        name=name,
        model=model,
        optimizer=build_optimizer(model, cfg.optim),
        config=cfg,
        num_classes=data.num_classes,
        amp=amp_enabled(cfg.train, device),
        compiled=compiled,
        parallel=parallel,
    )
    return state, options, params


@dataclass(frozen=True)
class RunSpec:
    """What one run trains, and where: the model, its resolved config, its run directory, the
    fields run.json records beside the run's own (e.g. provenance, a grid cell)."""

    model: str
    config: ExperimentConfig
    run_dir: Path
    record: dict[str, Any] = dataclasses.field(default_factory=dict)


def train_model(
    spec: RunSpec,
    data: DataSplits,
    device: torch.device,
    log: Callable[[str], None] = print,
    *,
    resume: bool = False,
) -> ResultRow:
    """Train one run as ``spec`` says; returns its results row. ``resume``: continue from
    ``run_dir/checkpoints/last.pt``."""
    name, cfg, run_dir, extra = spec.model, spec.config, spec.run_dir, spec.record
    state, options, params = build_state(name, cfg, data, device)
    main = place().is_main  # under torchrun only rank 0 prints and writes; every rank trains
    recorder = RunRecorder(
        run_dir,
        model_name=name,
        model_options=options,
        config=to_dict(cfg),
        extra={
            "params": params,
            "architecture": architecture(name, options),
            "precision": "bf16" if state.amp else "fp32",
            **extra,
        },
        tensorboard=cfg.train.tensorboard,
        histogram_every=cfg.train.diag_every if cfg.train.diagnostics else 0,
    )
    if (
        state.parallel is not None
        and cfg.train.sync_bn
        and not any(
            isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in state.model.modules()
        )
    ):
        log(f"note: --sync-bn changes nothing for {name}: it has no BatchNorm")
    resumed = resume and resume_state(run_dir, state)
    log(
        f"== {name}"
        + (f" (seed {cfg.train.seed})" if cfg.seeds else "")
        + f": {params:,} parameters"
        + (f", resumed at epoch {state.epoch} (step {state.step})" if resumed else "")
        + " =="
    )
    batches = make_batches(
        data, state.config, device
    )  # state.config: channels_last may be off (above)
    callbacks: list[Callback] = [
        LRSchedule(cfg.optim),
        LossTrace(stop_after=cfg.train.stop_after_escape),
    ]
    if main:
        callbacks += [EpochPrinter(), recorder]
    if main and cfg.train.diagnostics:
        callbacks.append(
            DiagnosticsCallback(
                run_dir / "diagnostics.jsonl",
                fixed_batch(data.train, data, device=device),
                every=cfg.train.diag_every,
            )
        )
    start = time.perf_counter()
    fit(state, batches, callbacks)
    seconds = time.perf_counter() - start
    model = state.model
    test = evaluate(
        model, batches["test"], state.amp
    )  # the final model; the test set is touched only here
    judged = judge(state.history, data.num_classes, state.diverged_at_step)
    if not main:
        barrier()  # rank 0 writes the diagnosis and run.json; the next model starts together
        return {"model": name, "status": judged.status}  # type: ignore[typeddict-item]
    init_state = load_checkpoint(run_dir / "checkpoints" / "epoch0000.pt")["state_dict"]
    diagnosis = diagnose_states(
        name,
        options,
        data,
        init_state=init_state,
        final_state={k: v.cpu() for k, v in model.state_dict().items()},
        device=device,
        optim=dataclasses.asdict(cfg.optim),
    )
    write_json(run_dir / "diagnosis.json", diagnosis)
    trace = state.callback_state.get(TRACE_KEY, [])
    write_json(run_dir / "loss_trace.json", {"every": TRACE_EVERY, "trace": trace})
    # The judged outcome first (if any), then what the diagnostics say about why.
    why = problem_summary(diagnosis)
    best = max(state.history, key=lambda e: e["val"]["acc"])
    last = state.history[-1]
    row: ResultRow = {
        "model": name,
        "params": params,
        "status": judged.status,
        "reason": judged.reason,
        "outcome_problem": judged.problem,
        "problem": why if judged.problem == "none" else f"{judged.problem}; {why}",
        "left_ln": not stayed_at_ln_c(state.history, data.num_classes),
        "diverged_at_step": state.diverged_at_step,
        "best_val_acc": best["val"]["acc"],
        "best_val_epoch": best["epoch"],
        "final_val_acc": last["val"]["acc"],
        "final_train_loss": last["train"]["loss"],
        "final_train_acc": last["train"]["acc"],
        "final_train_clean_acc": last["train_clean"]["acc"] if "train_clean" in last else None,
        "steps": state.step,
        "test_acc": test["acc"],
        "test_loss": test["loss"],
        "epochs": state.epoch,
        "seconds": round(seconds, 1),
        "verdict_init": diagnosis["verdict"]["init"]["verdict"],
        "predicted_init": (diagnosis.get("prediction") or {}).get("outcome"),
        "verdict_final": diagnosis["verdict"]["final"]["verdict"],
        "first_to_last_grad_init": diagnosis["verdict"]["init"]["first_to_last"],
        "backward_change_init": (diagnosis["verdict"]["init"].get("backward") or {}).get("change"),
        "finding": diagnosis["finding"]["finding"],
    }
    if len(trace) >= ESCAPE_WINDOW:  # a shorter run cannot be judged by the rule: not recorded
        row["escape_step"] = escape_step(trace, data.num_classes)
    recorder.finish("diverged" if state.diverged_at_step is not None else "completed", results=row)
    barrier()
    return row


def finished_row(run_dir: Path) -> ResultRow | None:
    """The results row of a model run that has finished (completed or diverged), else None."""
    try:
        info = json.loads((run_dir / "run.json").read_text())
    except (OSError, ValueError):
        return None
    return info.get("results") if info.get("status") in ("completed", "diverged") else None


def history(run_dir: Path) -> list[dict[str, Any]]:
    """The per-epoch records of a run (metrics.jsonl), oldest first."""
    return read_history(run_dir / "metrics.jsonl")


def check_same_data(run_dir: Path, data: DataSplits, allow: bool = False) -> str | None:
    """Refuse to continue, skip as finished, or analyse a run with other data than it was trained
    on: one results file would otherwise hold models of two data sets under one data line.
    ``allow`` (analyze/diagnose --other-data, never a resume): say it and return what changed."""
    recorded = recorded_provenance(run_dir / "run.json").get("data_fingerprint")
    changed = same_data(recorded, data.fingerprint())
    if changed and allow:
        note_once(
            f"{run_dir} was trained on other data ({changed}); measured on these (--other-data)"
        )
    elif changed:
        raise UserError(
            f"{run_dir} was trained on other data than these ({changed}); give the data it was "
            "trained on (the same `data.data_dir` and split settings), start a new run, or (analyze, "
            "diagnose) measure it on these with --other-data"
        )
    return changed


def train_or_resume(
    run_dir: Path,
    train: Callable[..., ResultRow],
    log: Callable[[str], None],
    label: str,
    data: DataSplits,
) -> ResultRow:
    """Skip a finished run, continue an interrupted one from its last epoch, restart one that never
    finished an epoch (``train(resume=True)`` does the continuing); a run trained on other data
    than ``data`` is refused either way."""
    check_same_data(run_dir, data)
    row = finished_row(run_dir)
    if row is not None:
        log(f"{label}: finished earlier, skipped")
        return row
    if place().is_main and run_dir.exists() and not (run_dir / "checkpoints" / "last.pt").is_file():
        shutil.rmtree(run_dir)  # interrupted before its first epoch ended: nothing worth keeping
    barrier()  # every rank sees the same directory before it reads last.pt
    return train(resume=True)
