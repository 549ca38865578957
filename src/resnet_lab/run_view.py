"""A finished compare as typed objects: what ``rl.load_run`` and ``rl.compare`` return.

The report reads a run as a plain dict (``reporting.report.read_compare``); this module turns that
dict into frozen dataclasses for users of the Python API: a :class:`Run` with one
:class:`ModelRun` per trained model (per seed with ``--seeds``) and a :class:`ModelSummary` per
model (mean ± std over its seeds). ``Run.to_frame()`` gives a pandas DataFrame where pandas is
installed. Nothing here imports torch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from .errors import UserError

if TYPE_CHECKING:
    import pandas

    from .experiment import ResultRow


class MeanStd(NamedTuple):
    """``mean ± std`` of one number over a model's seeds (std None when there is one seed)."""

    mean: float
    std: float | None


@dataclass(frozen=True)
class ModelRun:
    """One trained model of a compare (one per model, or per model and seed with ``--seeds``): its
    results row as typed attributes, its per-epoch history and its diagnosis. Accuracies are in %."""

    name: str  # the model as compare got it: a registered name or a file.py:factory spec
    run: str  # its run directory's name in the compare: <model>/, or <model>_seed<s>/ with --seeds
    dir: Path | None  # that directory (checkpoints/, metrics.jsonl); None if nothing was kept
    seed: int  # the training seed of this run
    optimizer: str  # sgd | adam | ...
    params: int  # trainable parameters
    status: str  # learned | failed (judged from the run's own numbers, experiment.judge)
    # the rule that decided status: diverged | stuck_at_ln_c | chance | overfitting | none
    reason: str | None
    problem: str  # the results table's problem column: judged problem; diagnosis summary
    best_val_acc: float  # best validation accuracy over the epochs (picks no model)
    best_val_epoch: int  # the epoch it was reached in
    final_val_acc: float | None  # validation accuracy after the last epoch
    test_acc: float  # the final model's test accuracy
    test_loss: float  # the final model's test loss
    final_train_loss: float  # mean training loss of the last epoch
    final_train_acc: float | None  # training accuracy of the last epoch
    epochs: int  # epochs trained
    steps: int | None  # optimizer steps taken
    seconds: float  # training time
    diverged_at_step: int | None  # the step whose loss was non-finite, if the run diverged
    verdict_init: str | None  # the gradient verdict at initialisation (docs/diagnostics.md)
    verdict_final: str | None  # the same for the trained model
    finding: str | None  # what training changed (weights and predictions), in one phrase
    # metrics.jsonl, oldest first: per epoch {epoch, step, train, val, lr, seconds}
    history: tuple[dict[str, Any], ...] = field(repr=False)
    # diagnosis.json (probe, verdicts, predictions), if written
    diagnosis: dict[str, Any] | None = field(repr=False)
    row: ResultRow = field(repr=False)  # the raw results.json row all of the above come from


@dataclass(frozen=True)
class ModelSummary:
    """One model over its seeds (results.json's ``summary``): with one seed, each std is None."""

    name: str  # the model, as in ModelRun.name
    params: int  # trainable parameters
    seeds: tuple[int, ...]  # the seeds it was trained with
    n: int  # how many runs (one per seed)
    learned: int  # how many of them learned
    best_val_acc: MeanStd  # mean ± std of best validation accuracy (%)
    test_acc: MeanStd  # mean ± std of test accuracy (%)
    final_train_loss: MeanStd  # mean ± std of the last epoch's training loss
    seconds: MeanStd  # mean ± std of training time per run


# ModelRun fields that are not one value per run: left out of to_frame()
_NOT_SCALAR = ("history", "diagnosis", "row")


@dataclass(frozen=True)
class Run:
    """A finished ``resnet-lab compare``: its settings, where it ran, and every model run."""

    dir: Path | None  # the compare's --out directory; None when it ran in a temporary one
    # the resolved settings (config.yaml / results.json's config)
    config: dict[str, Any] = field(repr=False)
    # host, versions, device, data source, start and finish times
    provenance: dict[str, Any] = field(repr=False)
    models: tuple[ModelRun, ...]  # in training order (model-major, then seed)
    summary: tuple[ModelSummary, ...]  # per model, mean ± std over its seeds (() in old runs)

    def to_frame(self) -> pandas.DataFrame:
        """One row per model run with its scalar fields (not history, diagnosis or the raw row).
        Needs pandas, which resnet-lab does not install."""
        try:
            import pandas as pd
        except ImportError:
            raise UserError("Run.to_frame() needs pandas: pip install pandas") from None
        columns = [f.name for f in dataclasses.fields(ModelRun) if f.name not in _NOT_SCALAR]
        return pd.DataFrame(
            [{c: getattr(m, c) for c in columns} for m in self.models], columns=columns
        )


def _mean_std(value: Any) -> MeanStd:
    mean, std = value
    return MeanStd(float(mean), None if std is None else float(std))


def _model_run(m: dict[str, Any], run_dir: Path | None) -> ModelRun:
    row = m["row"]
    run = row.get("run", row["model"])
    return ModelRun(
        name=m["name"],
        run=run,
        dir=None if run_dir is None else run_dir / run,
        seed=int(m["seed"]),
        optimizer=m["optimizer"],
        params=int(row["params"]),
        status=row["status"],
        reason=row.get("reason"),
        problem=row["problem"],
        best_val_acc=float(row["best_val_acc"]),
        best_val_epoch=int(row["best_val_epoch"]),
        final_val_acc=row.get("final_val_acc"),
        test_acc=float(row["test_acc"]),
        test_loss=float(row["test_loss"]),
        final_train_loss=float(row["final_train_loss"]),
        final_train_acc=row.get("final_train_acc"),
        epochs=int(row["epochs"]),
        steps=row.get("steps"),
        seconds=float(row["seconds"]),
        diverged_at_step=row.get("diverged_at_step"),
        verdict_init=row.get("verdict_init"),
        verdict_final=row.get("verdict_final"),
        finding=row.get("finding"),
        history=tuple(m["history"]),
        diagnosis=m["diagnosis"],
        row=row,
    )


def _summary(s: dict[str, Any]) -> ModelSummary:
    return ModelSummary(
        name=s["model"],
        params=int(s["params"]),
        seeds=tuple(s["seeds"]),
        n=int(s["n"]),
        learned=int(s["learned"]),
        best_val_acc=_mean_std(s["best_val_acc"]),
        test_acc=_mean_std(s["test_acc"]),
        final_train_loss=_mean_std(s["final_train_loss"]),
        seconds=_mean_std(s["seconds"]),
    )


def from_report(loaded: dict[str, Any], *, keep_dir: bool = True) -> Run:
    """The :class:`Run` of a compare as ``reporting.report.read_compare`` reads it. ``keep_dir=False``:
    the directory is about to go (a temporary one), so no path is kept."""
    run_dir = Path(loaded["dir"]) if keep_dir and loaded.get("dir") is not None else None
    where = loaded.get("dir") or "the run"
    try:
        return Run(
            dir=run_dir,
            config=loaded["config"],
            provenance=loaded["provenance"],
            models=tuple(_model_run(m, run_dir) for m in loaded["models"]),
            summary=tuple(_summary(s) for s in loaded.get("summary") or ()),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(
            f"{where} is incomplete or damaged ({type(exc).__name__}: {exc}); re-run the compare"
        ) from None
