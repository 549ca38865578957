"""``resnet-lab compare``: train several models under identical settings and judge each run.

Each model is one run of ``experiment.py`` (built, trained, judged and diagnosed there); this
module keeps what is specific to compare: the loop over ``cfg.models`` (and ``cfg.seeds``) in one
output directory, the results table (mean +- std over seeds) and resuming an interrupted compare.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .config import ExperimentConfig, from_dict, to_dict
from .data import load_data
from .distributed import barrier, check_last_batch, from_env, place
from .errors import UserError
from .experiment import ResultRow, builder_options, check_model, finished_row
from .outcome import Outcome
from .registry import check_model_names, create_model, is_external, run_name
from .reporting.survival import escapes
from .resources import check_model_fits
from .rundir import claim
from .runs import finishing_provenance, peak_memory, provenance, write_json, write_text, write_yaml
from .spread import fmt, mean_std
from .study import Launch, Planned, PlannedRun, launch, pending_runs
from .train import amp_enabled, setup_runtime


def run_names(cfg: ExperimentConfig) -> list[tuple[str, int, str]]:
    """(model, seed, run directory name) of every run, model-major. One seed: ``<model>/`` as always;
    ``seeds``: ``<model>_seed<s>/`` for each."""
    if not cfg.seeds:
        return [(name, cfg.train.seed, run_name(name)) for name in cfg.models]
    return [(name, s, f"{run_name(name)}_seed{s}") for name in cfg.models for s in cfg.seeds]


def summarise(rows: list[ResultRow]) -> list[dict[str, Any]]:
    """Per model, in run order: how many seeds, how many learned, mean +- std of the accuracies."""
    by: dict[str, list[ResultRow]] = {}
    for r in rows:
        by.setdefault(r["model"], []).append(r)

    def values(rs: list[ResultRow], key: str) -> list[float]:
        # Rows are read back from run.json, where a non-finite number (a diverged run's loss) is
        # null: it counts as NaN, so that the mean says the runs did not all stay finite.
        return [math.nan if r[key] is None else r[key] for r in rs]

    return [
        {
            "model": name,
            "params": rs[0]["params"],
            "seeds": [r["seed"] for r in rs],
            "n": len(rs),
            "learned": sum(r["status"] == Outcome.LEARNED for r in rs),
            "best_val_acc": mean_std(values(rs, "best_val_acc")),
            "test_acc": mean_std(values(rs, "test_acc")),
            "final_train_loss": mean_std(values(rs, "final_train_loss")),
            "seconds": mean_std(values(rs, "seconds")),
        }
        for name, rs in by.items()
    ]


def settings_text(cfg: ExperimentConfig, amp: bool) -> str:
    o = cfg.optim
    seeds = f"seeds {', '.join(map(str, cfg.seeds))}" if cfg.seeds else f"seed {cfg.train.seed}"
    # Unset model options are each model's own (a name means that model): say only what was set.
    chosen = {"init": cfg.model.init, "norm": cfg.model.norm, "skip": cfg.model.skip}
    model_text = ", ".join(f"{k} {v}" for k, v in chosen.items() if v is not None)
    return (
        f"{o.name} lr {o.lr}"
        + (f" momentum {o.momentum}" if o.name == "sgd" else "")
        + f", weight decay {o.weight_decay}, batch {cfg.train.batch_size}, {cfg.train.epochs} epochs, "
        f"width x{cfg.model.width_mult}, {model_text or 'each model its own init and norm'}, "
        + f"augment {'on' if cfg.data.augment else 'off'}, {seeds}, "
        f"{cfg.data.pipeline} pipeline, {'bf16 autocast' if amp else 'fp32'}"
    )


def results_markdown(rows: list[ResultRow], cfg: ExperimentConfig, source: str, amp: bool) -> str:
    """The seed's results table (model, accuracy, status, problem) with the extra columns; with
    several seeds, one line per model with mean +- std over them."""
    if len(cfg.seeds) > 1:
        lines = [
            (
                "| model | params | seeds | learned | best val acc | test acc | left ln C at step "
                "| time per run |"
            ),
            "|---|---:|---:|---:|---:|---:|---|---:|",
        ]
        for s in summarise(rows):
            left = escapes(s["model"], [r for r in rows if r["model"] == s["model"]]).text()
            lines.append(
                f"| {s['model']} | {s['params']:,} | {s['n']} | {s['learned']}/{s['n']} "
                f"| {fmt(s['best_val_acc'], unit='%')} | {fmt(s['test_acc'], unit='%')} | {left} "
                f"| {fmt(s['seconds'], 0, ' s')} |"
            )
        note = f"± is the standard deviation over {len(cfg.seeds)} seeds; per-seed rows are in results.json.\n"
    else:
        lines = [
            "| model | params | best val acc | test acc | status | left ln C at step | problem | time |",
            "|---|---:|---:|---:|---|---|---|---:|",
        ]
        for r in rows:
            lines.append(
                f"| {r['model']} | {r['params']:,} | {r['best_val_acc']:.2f}% (ep {r['best_val_epoch']}) "
                f"| {r['test_acc']:.2f}% | {r['status']} | {escapes(r['model'], [r]).text()} "
                f"| {r['problem']} | {r['seconds']:.0f} s |"
            )
        note = ""
    return (
        f"# resnet-lab compare ({cfg.preset} preset)\n\n" + "\n".join(lines) + "\n\n"
        f"Settings: {settings_text(cfg, amp)}.  \nData: {source}.  \n"
        "Test accuracy is the final model's; best validation accuracy picks no model.\n" + note
    )


def plan(cfg: ExperimentConfig) -> Planned:
    """Every run of the compare (model-major) with its resolved config: the compare's, at its seed."""
    return [
        (
            PlannedRun(cell=name, settings={}, seed=seed, name=run, model=name),
            dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, seed=seed)),
        )
        for name, seed, run in run_names(cfg)
    ]


def _stops(run: PlannedRun, exc: Exception) -> bool:
    """A model of the user's own failing at some step does not stop the compare: the other models
    still train (and are kept), and it ends unfinished with one line and how to continue it."""
    return not is_external(run.model) or isinstance(exc, UserError)


def run_compare(
    cfg: ExperimentConfig,
    out_dir: str | Path,
    *,
    overwrite: bool = False,
    resume: bool = False,
    log: Callable[[str], None] = print,
    how: Launch = Launch(),
) -> list[ResultRow]:
    """Train every model of ``cfg.models`` (once per seed of ``cfg.seeds``) in ``out_dir``, launched
    as ``how`` says (study.py), and write the results table.

    All input checks (config, data, device) happen before ``out_dir`` is created, so bad input
    leaves nothing behind; ``results.json`` is written only when every run has finished.
    ``resume``: ``out_dir`` is an interrupted compare; finished runs are kept, the rest continue.
    """
    how.check()
    data = load_data(cfg.data)
    # Before the processes join (torchrun), so that rank 0 alone says it: every rank finds the same.
    check_last_batch(len(data.train), cfg.train.batch_size, from_env().world)
    device = setup_runtime(cfg.train)
    # A model that would not fit in memory, or cannot be built or run on this data, fails here,
    # before anything is written (the estimate first: building it could itself exhaust memory).
    for name in cfg.models:
        options = builder_options(name, cfg, data)
        per_process = max(1, cfg.train.batch_size // place().world)  # torchrun: each its slice
        check_model_fits(name, options, data.image_shape, per_process, device)
        check_model(name, create_model(name, **options), data)
    out, planned = Path(out_dir), plan(cfg)
    if not place().is_main:  # under torchrun: train along, rank 0 owns the directory
        barrier()  # wait for rank 0 to claim it
        pending = pending_runs(planned, out, lambda s: None, data)
        launch(how, pending, out, cfg, data, {}, lambda s: None, stop_on=_stops, kind="compare")
        return []
    with claim(out, "compare", to_dict(cfg), overwrite=overwrite, resume=resume):
        prov = provenance(device, data)
        write_yaml(out / "config.yaml", to_dict(cfg))
        log(f"data: {data.describe()}; device {prov['device']}; output {out}")
        barrier()  # the directory is ready: the other ranks may start (and read it on a resume)
        pending = pending_runs(planned, out, log, data)
        errors = launch(
            how,
            pending,
            out,
            cfg,
            data,
            prov,
            log,
            total=len(planned),
            stop_on=_stops,
            kind="compare",
        )
        rows = _collect(planned, out, errors)
        table = results_markdown(rows, cfg, data.source, amp_enabled(cfg.train, device))
        write_text(out / "results.md", table)
        # peak memory: of this process (data, models and training together)
        prov = finishing_provenance(
            {**prov, **peak_memory(device)}, out / "results.json", trained=bool(pending)
        )
        write_json(
            out / "results.json",
            {
                "config": to_dict(cfg),
                "provenance": prov,
                "results": rows,
                "summary": summarise(rows),
            },
        )
    log("\n" + table)
    return rows


def _collect(planned: Planned, out: Path, errors: dict[str, str]) -> list[ResultRow]:
    """Every run's results row, in run order; a run that failed ends the compare unfinished."""
    rows: list[ResultRow] = []
    failed = []
    for run, _ in planned:
        row = finished_row(out / run.name)
        if row is None:
            failed.append(f"{run.name} ({errors.get(run.name, 'did not finish')[:150]})")
        else:
            rows.append({**row, "seed": run.seed, "run": run.name})
    if failed:
        raise UserError(
            f"{len(failed)} model run(s) failed in training: {'; '.join(failed)}; the others are "
            f"kept. Fix the cause, then continue with: resnet-lab compare --resume {out}"
        )
    return rows


def load_run_config(run_dir: str | Path) -> ExperimentConfig:
    """The resolved config an interrupted run was started with (for ``--resume``)."""
    import yaml

    from .config import validate
    from .rundir import MARKER, kind_of

    run_dir = Path(run_dir)
    found = kind_of(run_dir) if run_dir.is_dir() else None
    if found is None:
        raise UserError(
            f"{run_dir} is not a resnet-lab compare directory (it has no {MARKER} marker); pass the "
            "--out of an interrupted 'resnet-lab compare'"
        )
    if found != "compare":
        raise UserError(
            f"{run_dir} was written by 'resnet-lab {found}', not 'compare'; continue it with "
            f"'resnet-lab {found}' (the same command that started it)"
        )
    path = run_dir / "config.yaml"
    try:
        saved = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        raise UserError(
            f"{run_dir} is not a resumable resnet-lab run (no readable config.yaml); pass the --out "
            "directory of an interrupted run"
        ) from None
    cfg = from_dict(saved, f"{path}")
    validate(cfg)  # a hand-edited config.yaml gets the messages fresh input would
    check_model_names(cfg.models)
    return cfg
