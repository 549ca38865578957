"""``resnet-lab compare``: train several models under identical settings and judge each run.

The status and problem columns are computed from the run's own numbers by the rules in
:func:`judge`, with the thresholds named below; nothing in the table is written in advance.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from functools import partial
from pathlib import Path
from typing import Any, Callable

import torch

from .config import ExperimentConfig, from_dict, to_dict
from .errors import UserError
from .data import DataSplits, load_data, make_batches
from .diagnostics.analyze import diagnose, fixed_batch, problem_summary
from .diagnostics.hooks import DiagnosticsCallback
from .registry import create_model, model_options
from .runs import (RunRecorder, load_checkpoint, now, prepare_dir, provenance, resume_state, write_json,
                   write_yaml)
from .train import (EpochPrinter, LRSchedule, TrainState, amp_enabled, build_optimizer, evaluate, fit,
                    prepare_model, setup_runtime)

# A run "stayed at ln C" when every epoch's mean training loss is within this of ln(num_classes):
# the seed's DeepCNN logged 2.3032 -> 2.3026 over 20 epochs, i.e. within 0.001.
STUCK_LOSS_TOLERANCE = 0.01
# A run "failed" when its best validation accuracy is within this many points of chance (10 % for
# CIFAR-10); the seed's failed run sat at exactly 10.00 %.
CHANCE_MARGIN_POINTS = 2.0
# Train-minus-validation accuracy gap (points) above which the problem column notes overfitting.
OVERFIT_GAP_POINTS = 15.0


def judge(history: list[dict[str, Any]], num_classes: int, diverged_at_step: int | None = None) -> tuple[str, str]:
    """(status, problem) of a run from its per-epoch history. Status is "learned" or "failed"."""
    ln_c = math.log(num_classes)
    chance = 100.0 / num_classes
    if diverged_at_step is not None or any(not math.isfinite(e["train"]["loss"]) for e in history):
        return "failed", f"diverged: non-finite loss at step {diverged_at_step} (exploding)"
    losses = [e["train"]["loss"] for e in history]
    best_val = max(e["val"]["acc"] for e in history)
    if all(abs(loss - ln_c) <= STUCK_LOSS_TOLERANCE for loss in losses):
        return "failed", (f"loss stayed at ln {num_classes} = {ln_c:.4f} (within {STUCK_LOSS_TOLERANCE}) "
                          f"for all {len(history)} epochs: no learning")
    if best_val <= chance + CHANCE_MARGIN_POINTS:
        return "failed", f"validation accuracy stayed at chance ({best_val:.2f}% vs {chance:.0f}%)"
    last = history[-1]
    gap = last["train"]["acc"] - last["val"]["acc"]
    if gap > OVERFIT_GAP_POINTS:
        return "learned", f"overfitting: train {last['train']['acc']:.1f}% vs val {last['val']['acc']:.1f}%"
    return "learned", "none"


def builder_options(name: str, cfg: ExperimentConfig, data: DataSplits,
                    extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The options model ``name`` is built with: the shared ``cfg.model`` settings it accepts,
    ``extra`` ones (e.g. a depth), and the data's class count, channels and image size."""
    allowed = model_options(name)
    options = {k: v for k, v in vars(cfg.model).items() if k in allowed}
    options.update(extra or {})
    options.update(num_classes=data.num_classes, in_channels=data.image_shape[0],
                   input_size=data.image_shape[-1])
    return options


def train_model(name: str, cfg: ExperimentConfig, data: DataSplits, device: torch.device,
                run_dir: Path, extra: dict[str, Any], log: Callable[[str], None] = print, *,
                model_extra: dict[str, Any] | None = None, resume: bool = False) -> dict[str, Any]:
    """Train one registered model in ``run_dir``; returns its results-table row.

    ``model_extra``: builder options beyond the shared ``cfg.model`` ones (e.g. a depth).
    ``resume``: continue from ``run_dir/checkpoints/last.pt`` when it exists.
    """
    options = builder_options(name, cfg, data, model_extra)
    torch.manual_seed(cfg.train.seed)  # same seed -> same init for every model and every rerun
    model = create_model(name, **options)
    params = sum(p.numel() for p in model.parameters())
    model, compiled = prepare_model(model, cfg.train, device)
    state = TrainState(name=name, model=model, optimizer=build_optimizer(model, cfg.optim), config=cfg,
                       num_classes=data.num_classes, amp=amp_enabled(cfg.train, device), compiled=compiled)
    recorder = RunRecorder(run_dir, model_name=name, model_options=options, config=to_dict(cfg),
                           extra={"params": params, **extra}, tensorboard=cfg.train.tensorboard,
                           histogram_every=cfg.train.diag_every if cfg.train.diagnostics else 0)
    resumed = resume and resume_state(run_dir, state)
    log(f"== {name}: {params:,} parameters" + (f", resumed at epoch {state.epoch} (step {state.step})" if resumed
                                               else "") + " ==")
    batches = make_batches(data, cfg, device)
    callbacks = [LRSchedule(cfg.optim), EpochPrinter(), recorder]
    if cfg.train.diagnostics:
        callbacks.append(DiagnosticsCallback(run_dir / "diagnostics.jsonl", fixed_batch(data.train, data, device=device),
                                             every=cfg.train.diag_every))
    start = time.perf_counter()
    fit(state, batches, callbacks)
    seconds = time.perf_counter() - start
    test = evaluate(model, batches["test"], state.amp)  # the final model; the test set is touched only here
    status, problem = judge(state.history, data.num_classes, state.diverged_at_step)
    init_state = load_checkpoint(run_dir / "checkpoints" / "epoch0000.pt")["state_dict"]
    diagnosis = diagnose(name, options, data, init_state=init_state,
                         final_state={k: v.cpu() for k, v in model.state_dict().items()}, device=device)
    write_json(run_dir / "diagnosis.json", diagnosis)
    # The judged outcome first (if any), then what the diagnostics say about why.
    problem = problem_summary(diagnosis) if problem == "none" else f"{problem}; {problem_summary(diagnosis)}"
    best = max(state.history, key=lambda e: e["val"]["acc"])
    row = {
        "model": name, "params": params, "status": status, "problem": problem,
        "best_val_acc": best["val"]["acc"], "best_val_epoch": best["epoch"],
        "final_val_acc": state.history[-1]["val"]["acc"],
        "final_train_loss": state.history[-1]["train"]["loss"],
        "final_train_acc": state.history[-1]["train"]["acc"], "steps": state.step,
        "test_acc": test["acc"], "test_loss": test["loss"],
        "epochs": state.epoch, "seconds": round(seconds, 1),
        "verdict_init": diagnosis["verdict"]["init"]["verdict"],
        "verdict_final": diagnosis["verdict"]["final"]["verdict"],
        "first_to_last_grad_init": diagnosis["verdict"]["init"]["first_to_last"],
        "finding": diagnosis["finding"]["finding"],
    }
    recorder.finish("diverged" if state.diverged_at_step is not None else "completed", results=row)
    return row


def results_markdown(rows: list[dict[str, Any]], cfg: ExperimentConfig, source: str, amp: bool) -> str:
    """The seed's results table (model, accuracy, status, problem) with the extra columns."""
    lines = [
        "| model | params | best val acc | test acc | status | problem | time |",
        "|---|---:|---:|---:|---|---|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['model']} | {r['params']:,} | {r['best_val_acc']:.2f}% (ep {r['best_val_epoch']}) "
                     f"| {r['test_acc']:.2f}% | {r['status']} | {r['problem']} | {r['seconds']:.0f} s |")
    o = cfg.optim
    setting = (f"{cfg.optim.name} lr {o.lr}" + (f" momentum {o.momentum}" if o.name == "sgd" else "")
               + f", weight decay {o.weight_decay}, batch {cfg.train.batch_size}, {cfg.train.epochs} epochs, "
               f"width x{cfg.model.width_mult}, init {cfg.model.init}, norm {cfg.model.norm}, "
               f"augment {'on' if cfg.data.augment else 'off'}, seed {cfg.train.seed}, "
               f"{cfg.data.pipeline} pipeline, {'bf16 autocast' if amp else 'fp32'}")
    return (f"# resnet-lab compare ({cfg.preset} preset)\n\n" + "\n".join(lines) + "\n\n"
            f"Settings: {setting}.  \nData: {source}.  \n"
            "Test accuracy is the final model's; best validation accuracy picks no model.\n")


def finished_row(run_dir: Path) -> dict[str, Any] | None:
    """The results row of a model run that has finished (completed or diverged), else None."""
    try:
        info = json.loads((run_dir / "run.json").read_text())
    except (OSError, ValueError):
        return None
    return info.get("results") if info.get("status") in ("completed", "diverged") else None


def train_or_resume(run_dir: Path, train: Callable[..., dict[str, Any]], log: Callable[[str], None],
                    label: str) -> dict[str, Any]:
    """Skip a finished run, continue an interrupted one from its last epoch, restart one that never
    finished an epoch (``train(resume=True)`` does the continuing)."""
    row = finished_row(run_dir)
    if row is not None:
        log(f"{label}: finished earlier, skipped")
        return row
    if run_dir.exists() and not (run_dir / "checkpoints" / "last.pt").is_file():
        shutil.rmtree(run_dir)  # interrupted before its first epoch ended: nothing worth keeping
    return train(resume=True)


def run_compare(cfg: ExperimentConfig, out_dir: str | Path, *, overwrite: bool = False, resume: bool = False,
                log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Train every model of ``cfg.models`` in ``out_dir/<model>/`` and write the results table.

    All input checks (config, data, device) happen before ``out_dir`` is created, so bad input
    leaves nothing behind; ``results.json`` is written only when every model has finished.
    ``resume``: ``out_dir`` is an interrupted compare; finished models are kept, the rest continue.
    """
    data = load_data(cfg.data)
    device = setup_runtime(cfg.train)
    out = Path(out_dir) if resume else prepare_dir(out_dir, overwrite=overwrite)
    prov = provenance(device, data.source)
    write_yaml(out / "config.yaml", to_dict(cfg))
    log(f"data: {data.source}; {len(data.train):,} train / {len(data.val):,} val / "
        f"{len(data.test):,} test images; device {prov['device']}; output {out}")
    rows = []
    for name in cfg.models:
        train = partial(train_model, name, cfg, data, device, out / name, {"provenance": prov}, log)
        rows.append(train_or_resume(out / name, train, log, name))
    table = results_markdown(rows, cfg, data.source, amp_enabled(cfg.train, device))
    (out / "results.md").write_text(table)
    prov["finished"] = now()
    write_json(out / "results.json", {"config": to_dict(cfg), "provenance": prov, "results": rows})
    log("\n" + table)
    return rows


def load_run_config(run_dir: str | Path) -> ExperimentConfig:
    """The resolved config an interrupted run was started with (for ``--resume``)."""
    import yaml

    path = Path(run_dir) / "config.yaml"
    try:
        return from_dict(yaml.safe_load(path.read_text()), f"{path}")
    except (OSError, yaml.YAMLError):
        raise UserError(f"{run_dir} is not a resumable resnet-lab run (no readable config.yaml); pass the --out "
                        "directory of an interrupted run") from None
