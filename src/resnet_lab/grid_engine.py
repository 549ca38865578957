"""``resnet-lab grid``: a study over any config axes, one run per cell and seed.

An axis is ``KEY=V1,V2,...`` (a dotted config key, its values typed by that key's field) or a
joint axis ``K1+K2=a+b,c+d`` that sets several keys together (so a study can pair settings that
only make sense together, e.g. an optimiser with its learning rate). The cells are the product
of the axes, first axis outermost; every cell runs once per seed in ``grid.seeds``.

Layout: ``<out>/config.yaml`` (the resolved study), one run directory per cell and seed,
``<out>/<cell>_seed<s>/`` (the layout of ``runs.py``), and ``grid.json``: every run's row and the
mean +- std over seeds per cell. Resumable exactly like ``sweep``: a finished run is skipped, an
interrupted one continues from its last completed epoch. Rows are always collected from the run
directories, so a grid started with one launcher can be finished with another.

Launchers: ``inline`` (this process, one run after another) and ``submitit`` (each run a job:
a Slurm job array where Slurm is installed, local processes otherwise; ``pip install
'resnet-lab[cluster]'``).

Adding a new axis needs no code here: any config key is one. A new *kind* of option (e.g. a new
init) is one model-side change plus its name in that option's list.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import itertools
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from .config import (
    ExperimentConfig,
    apply_overrides,
    field_types,
    from_dict,
    to_dict,
    typed_value,
    validate,
)
from .data import DataSplits, load_data
from .distributed import barrier, from_env, place
from .errors import UserError, exception_line
from .experiment import (
    ResultRow,
    builder_options,
    finished_row,
    history,
    train_model,
    train_or_resume,
)
from .local_jobs import DataShape, PrefixedLines, choose_jobs, jobs_that_fit, run_local
from .outcome import Outcome
from .registry import create_model, model_options
from .reporting.grid_conclusions import summarise
from .resources import CPU, check_model_fits, training_bytes
from .rundir import claim, has_content
from .runs import now, provenance, recorded_start, write_json, write_yaml
from .train import setup_runtime

LAUNCHERS = ("inline", "submitit")
# Keys that a grid cannot vary: the seed has --seeds, and the grid's own settings define the grid.
_NOT_AXES = ("train.seed", "grid.axes", "grid.seeds", "grid.threshold_acc", "preset", "models")


@dataclass(frozen=True)
class Axis:
    keys: tuple[str, ...]
    values: tuple[tuple[Any, ...], ...]  # one tuple per value, aligned with keys


@dataclass(frozen=True)
class Run:
    """One cell at one seed."""

    cell: str
    settings: dict[str, Any]  # dotted key -> typed value, for every axis key
    seed: int
    name: str  # its run directory's name


class GridRow(ResultRow, total=False):
    """A run's results row plus where it sits in the grid (grid.json ``runs``)."""

    cell: str
    settings: dict[str, Any]
    outcome: str  # learned | failed | diverged | error
    threshold_step: int | None  # first step (at an epoch end) with val acc >= threshold
    error: str | None


def parse_axis(spec: str) -> Axis:
    """``"model.depth=8,20"`` or ``"optim.name+optim.lr=sgd+0.01,adam+0.001"`` -> Axis (typed)."""
    origin = f"axis {spec!r}"
    if "=" not in spec:
        raise UserError(f"{origin} has no '='; write KEY=V1,V2 (e.g. model.depth=8,20)")
    left, right = spec.split("=", 1)
    keys = tuple(k.strip() for k in left.split("+"))
    types = field_types()
    for key in keys:
        if key not in types:
            raise UserError(
                f"{origin}: unknown config key {key!r}; an axis is any of: "
                + ", ".join(k for k in sorted(types) if k not in _NOT_AXES)
            )
        if key in _NOT_AXES:
            raise UserError(
                f"{origin}: {key} cannot be an axis"
                + ("; pass the seeds with --seeds" if key == "train.seed" else "")
            )
    if len(set(keys)) != len(keys):
        raise UserError(f"{origin} names a key twice; name each key once")
    raw = [v.strip() for v in right.split(",")]
    if not right.strip() or any(not v for v in raw):
        raise UserError(
            f"{origin} has an empty value list or an empty value; give values like {keys[0]}=A,B"
        )
    values = []
    for item in raw:
        parts = [p.strip() for p in item.split("+")] if len(keys) > 1 else [item]
        if len(parts) != len(keys):
            raise UserError(
                f"{origin}: value {item!r} has {len(parts)} part(s) for {len(keys)} keys; "
                f"join one value per key with '+'"
            )
        values.append(tuple(typed_value(k, p, origin) for k, p in zip(keys, parts)))
    dupes = sorted({str(v) for v in values if values.count(v) > 1})
    if dupes:
        raise UserError(f"{origin} lists a value twice ({', '.join(dupes)}); list each value once")
    return Axis(keys, tuple(values))


def _fmt_value(v: Any) -> str:
    if isinstance(v, bool):
        return "-on" if v else "-off"
    if isinstance(v, (int, float)):
        return f"{v:g}"
    return f"-{v}"


def _short(key: str) -> str:
    if key == "grid.model":
        return "model"
    parts = key.split(".")
    return parts[-2] if parts[-1] in ("name", "model") and len(parts) > 1 else parts[-1]


def cell_name(settings: dict[str, Any]) -> str:
    """``{"model.depth": 20, "model.skip": False}`` -> ``depth20_skip-off`` (file-name safe)."""
    # An unset value (None: the model's own default, e.g. skip for a net without that option) is left out.
    name = "_".join(f"{_short(k)}{_fmt_value(v)}" for k, v in settings.items() if v is not None)
    return re.sub(r"[^A-Za-z0-9._-]", "-", name)


def default_run_name(settings: dict[str, Any], seed: int) -> str:
    return f"{cell_name(settings)}_seed{seed}"


def expand(
    axes: list[Axis],
    seeds: tuple[int, ...],
    run_name: Callable[[dict[str, Any], int], str] = default_run_name,
) -> list[Run]:
    """Every cell (product of the axes, first outermost) at every seed (innermost)."""
    keys = [k for a in axes for k in a.keys]
    if len(set(keys)) != len(keys):
        raise UserError("two axes set the same config key; give each key in one axis only")
    runs = []
    for combo in itertools.product(*(a.values for a in axes)):
        settings = {k: v for a, vals in zip(axes, combo) for k, v in zip(a.keys, vals)}
        runs += [Run(cell_name(settings), settings, s, run_name(settings, s)) for s in seeds]
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise UserError(
            "two grid runs would share a run directory name; make the axis values distinct"
        )
    return runs


def run_config(cfg: ExperimentConfig, run: Run) -> ExperimentConfig:
    """The resolved config of one run: the study's config with the cell's settings and seed."""
    return apply_overrides(cfg, {**run.settings, "train.seed": run.seed}, f"grid cell {run.cell}")


def check_run(cfg: ExperimentConfig, axis_keys: tuple[str, ...] = ()) -> None:
    """Everything that can be checked before training: values, that the model takes every model
    option an axis sets for it (else the axis would be silently ignored; "none" leaves an option
    unset, for a model without it), and that it can be built with them (it is built once on the
    CPU, so a depth it cannot take fails here)."""
    validate(cfg)
    name = cfg.grid.model
    allowed = model_options(name)  # UserError for an unknown model
    wanted = {k: v for k, v in vars(cfg.model).items() if v is not None}
    for key in (k.split(".", 1)[1] for k in axis_keys if k.startswith("model.")):
        if key not in allowed and getattr(cfg.model, key) is not None:
            raise UserError(
                f"model {name!r} has no option {key!r} (it accepts: {', '.join(allowed)}); "
                f"drop the model.{key} axis or choose a model that has it"
            )
    options = {k: v for k, v in wanted.items() if k in allowed}
    # The data are not loaded yet: estimated at CIFAR's 3x32x32, the size of every grid preset.
    shape = (
        options.get("in_channels", 3),
        options.get("input_size", 32),
        options.get("input_size", 32),
    )
    check_model_fits(name, options, shape, cfg.train.batch_size, CPU)
    create_model(name, **options)


def _model_of(cfg: ExperimentConfig, data: DataSplits) -> tuple[str, dict[str, Any], tuple, int]:
    """(model, the options it is built with, image shape, batch) of a run's config on ``data``."""
    options = builder_options(cfg.grid.model, cfg, data)
    return cfg.grid.model, options, tuple(data.image_shape), cfg.train.batch_size


def _jobs(jobs: int | str, pending: list[tuple[Run, ExperimentConfig]], data, prov, log) -> int:
    """How many runs at once: ``jobs``, or by measurement for "auto" (recorded in ``prov``), never
    more than the pending runs or than fit in memory."""
    if jobs == 1 or not pending:
        return 1
    # Each distinct model with its training-memory estimate (0: not estimated), smallest first.
    models: dict[str, tuple[tuple, ExperimentConfig]] = {}
    for _, cfg in pending:
        model = _model_of(cfg, data)
        models.setdefault(repr(model), (model, cfg))
    sized = sorted(
        ((training_bytes(*m) or 0, cfg) for m, cfg in models.values()), key=lambda t: t[0]
    )
    if jobs == "auto":
        shape = DataShape(data.num_classes, tuple(data.image_shape))
        probes = {
            "smallest": (to_dict(sized[0][1]), shape),
            "largest": (to_dict(sized[-1][1]), shape),
        }
        jobs, prov["jobs_probe"] = choose_jobs(probes, len(pending))
        log(
            f"--jobs auto: {jobs} at once (measured: {prov['jobs_probe'].get('throughput_vs_one_job', '-')})"
        )
    return jobs_that_fit(min(int(jobs), len(pending)), data, sized[-1][0], log)


def _outcome(row: ResultRow) -> str:
    return Outcome.DIVERGED if row.get("reason") == "diverged" else row["status"]


def grid_row(
    run: Run, run_dir: Path, row: ResultRow | None, threshold: float, error: str | None = None
) -> GridRow:
    out: GridRow = {
        "cell": run.cell,
        "run": run.name,
        "seed": run.seed,
        "settings": run.settings,
        "error": error,
        "threshold_step": None,
    }
    if row is None:
        out["outcome"] = Outcome.ERROR
        return out
    out.update(row)
    out["outcome"] = _outcome(row)
    out["threshold_step"] = next(
        (e["step"] for e in history(run_dir) if e["val"]["acc"] >= threshold), None
    )
    return out


def execute(
    cfg: ExperimentConfig,
    run: Run,
    run_dir: Path,
    data: DataSplits,
    device,
    prov: dict[str, Any],
    log: Callable[[str], None],
) -> ResultRow:
    """Train (or resume, or skip) one run in ``run_dir``."""
    train = partial(
        train_model,
        cfg.grid.model,
        cfg,
        data,
        device,
        run_dir,
        {"provenance": prov, "grid_cell": run.cell, "settings": run.settings},
        log,
    )
    return train_or_resume(run_dir, train, log, run.name, data)


def run_job(cfg_dict: dict[str, Any], run: Run, run_dir: str, prov: dict[str, Any]) -> ResultRow:
    """One run as a separate job (the submitit launcher, --jobs): loads its own data and device;
    every line it prints starts with its name (several jobs may share one terminal)."""
    cfg = from_dict(cfg_dict, f"config of {run.name}")
    with contextlib.redirect_stdout(PrefixedLines(sys.stdout, f"[{run.name}] ")):
        data = load_data(cfg.data)
        device = setup_runtime(cfg.train)
        prov = {**prov, "device": str(device)}
        return execute(cfg, run, Path(run_dir), data, device, prov, print)


def _inline(
    pending: list[tuple[Run, ExperimentConfig]],
    out: Path,
    data: DataSplits,
    base: ExperimentConfig,
    prov: dict[str, Any],
    log: Callable[[str], None],
    total: int,
) -> dict[str, str]:
    errors = {}
    # The study's data serve every run whose data settings are the study's; a data.* axis (e.g.
    # data.train_subset) changes what a run trains on, so such runs load their own.
    datasets = {base.data: data}
    bar = tqdm(
        total=total,
        initial=total - len(pending),
        desc="grid",
        unit="run",
        disable=not sys.stderr.isatty(),
    )
    for i, (run, cfg) in enumerate(pending, 1):
        log(f"[{i}/{len(pending)}] {run.name}")
        try:
            if cfg.data not in datasets:
                datasets[cfg.data] = load_data(cfg.data)
            device = setup_runtime(cfg.train)
            execute(
                cfg,
                run,
                out / run.name,
                datasets[cfg.data],
                device,
                {**prov, "device": str(device)},
                log,
            )
        except Exception as exc:
            if place().active:
                # Under torchrun the other ranks may be inside this cell's collectives: going on
                # would pair them with the next cell's. Stop the study (rerun to resume it).
                raise
            errors[run.name] = exception_line(exc)
            # On stderr, where errors go (stdout may be a log file nobody reads until later).
            print(f"{run.name}: error: {errors[run.name]}", file=sys.stderr, flush=True)
        bar.update()
    bar.close()
    return errors


@dataclass(frozen=True)
class SubmititOptions:
    slurm_partition: str | None = None
    gpus_per_job: int | None = (
        None  # None: the executor's default (all GPUs visible to a local job)
    )
    timeout_min: int = 60
    cpus_per_job: int | None = None
    # Runs at once: Slurm's array parallelism; without Slurm, jobs go in waves of this many
    # (default 1: one training run already uses every core of a machine).
    max_parallel: int | None = None


def submitit_module():
    try:
        import submitit
    except ImportError:
        raise UserError(
            "--launcher submitit needs the submitit package; pip install 'resnet-lab[cluster]'"
        ) from None
    return submitit


def _submitit(
    pending: list[tuple[Run, ExperimentConfig]],
    out: Path,
    prov: dict[str, Any],
    opts: SubmititOptions,
    log: Callable[[str], None],
) -> dict[str, str]:
    submitit = submitit_module()
    executor = submitit.AutoExecutor(folder=out / "submitit")
    on_slurm = executor.cluster == "slurm"
    params: dict[str, Any] = {"timeout_min": opts.timeout_min, "name": f"resnet-lab-{out.name}"}
    optional = {
        "gpus_per_node": opts.gpus_per_job,
        "cpus_per_task": opts.cpus_per_job,
        "slurm_partition": opts.slurm_partition,
        "slurm_array_parallelism": opts.max_parallel if on_slurm else None,
    }
    params.update({k: v for k, v in optional.items() if v is not None})
    executor.update_parameters(**params)
    wave = len(pending) if on_slurm else (opts.max_parallel or 1)
    log(
        f"submitit ({executor.cluster}): {len(pending)} job(s)"
        + ("" if on_slurm else f", {wave} at a time")
        + f"; logs in {out / 'submitit'}"
    )
    errors = {}
    bar = tqdm(total=len(pending), desc="grid", unit="run", disable=not sys.stderr.isatty())
    for start in range(0, len(pending), max(wave, 1)):
        chunk = pending[start : start + max(wave, 1)]
        with executor.batch():  # on Slurm: one job array for the whole grid
            jobs = [
                executor.submit(run_job, to_dict(cfg), run, str(out / run.name), prov)
                for run, cfg in chunk
            ]
        try:
            for (run, _), job in zip(chunk, jobs):
                try:
                    job.result()
                except Exception as exc:  # noqa: BLE001 - recorded; the other runs go on
                    errors[run.name] = exception_line(exc)
                    log(f"{run.name}: error: {errors[run.name]}")
                bar.update()
        except BaseException:
            # Interrupted while waiting: cancel what is still queued or running, so that a rerun
            # does not start a second job on the same run directory.
            for job in jobs:
                if not job.done():
                    job.cancel(check=False)
            raise
    bar.close()
    return errors


def _prepare_out(out: Path, resolved: dict[str, Any]) -> None:
    """Refuse a directory holding another study (or anything else); nothing is written here."""
    import yaml

    saved = out / "config.yaml"
    if saved.is_file():
        try:
            same = yaml.safe_load(saved.read_text()) == resolved
        except (OSError, yaml.YAMLError):
            same = False
        if not same:
            raise UserError(
                f"{out} holds a study with a different config (other axes or settings); pass another "
                "--out, or the same axes and settings to resume it"
            )
    elif out.exists() and (not out.is_dir() or has_content(out)):
        raise UserError(f"{out} exists and is not a grid directory; choose another --out")


def plan(
    cfg: ExperimentConfig, run_name: Callable[[dict[str, Any], int], str] = default_run_name
) -> list[tuple[Run, ExperimentConfig]]:
    """Every run of the study with its resolved config, all checked (UserError before anything runs)."""
    if not cfg.grid.axes:
        raise UserError(
            "the grid has no axes; pass --axis KEY=V1,V2 (e.g. --axis model.depth=8,20) or a grid preset"
        )
    if not cfg.grid.seeds:
        raise UserError("the grid has no seeds; pass --seeds 0 or more")
    dupes = sorted({s for s in cfg.grid.seeds if cfg.grid.seeds.count(s) > 1})
    if dupes:
        raise UserError(f"--seeds lists {', '.join(map(str, dupes))} twice; list each seed once")
    axes = [parse_axis(a) for a in cfg.grid.axes]
    keys = tuple(k for a in axes for k in a.keys)
    runs = expand(axes, cfg.grid.seeds, run_name)
    planned = [(r, run_config(cfg, r)) for r in runs]
    checked = set()
    for run, rcfg in planned:
        if run.cell not in checked:  # seeds do not change what can be built
            check_run(rcfg, keys)
            checked.add(run.cell)
    return planned


def run_grid(
    cfg: ExperimentConfig,
    out_dir: str | Path,
    *,
    launcher: str = "inline",
    submitit_options: SubmititOptions | None = None,
    run_name: Callable[[dict[str, Any], int], str] = default_run_name,
    log: Callable[[str], None] = print,
    kind: str = "grid",
    jobs: int | str = 1,
) -> list[GridRow]:
    """Run (or resume) the study ``cfg.grid`` in ``out_dir``; writes grid.json and returns the rows.
    ``kind``: the command whose directory this is (``sweep`` runs on this engine too). ``jobs``:
    runs at once on this machine, each in its own process with its share of the cores
    (local_jobs.py)."""
    if from_env().active and (launcher != "inline" or jobs != 1):
        raise UserError(
            "under torchrun every cell trains data-parallel in turn (--launcher inline, --jobs 1); "
            "submitit and --jobs start their own processes, so run them without torchrun"
        )
    if (
        jobs != "auto"
        and (not isinstance(jobs, int) or jobs < 1)
        or (jobs != 1 and launcher != "inline")
    ):
        raise UserError(
            f"--jobs must be >= 1 and is for this machine's processes (got {jobs} with --launcher "
            f"{launcher}); submitit sets its parallelism with --max-parallel"
        )
    if launcher not in LAUNCHERS:
        raise UserError(f"unknown launcher {launcher!r}; choose one of: {', '.join(LAUNCHERS)}")
    if launcher == "submitit":
        submitit_module()
    planned = plan(cfg, run_name)
    out = Path(out_dir)
    resolved = to_dict(cfg)
    _prepare_out(out, resolved)
    data = load_data(cfg.data)  # also checks the data before anything is written
    device = setup_runtime(cfg.train)
    if not place().is_main:  # under torchrun: train every cell along; rank 0 owns the directory
        barrier()
        pending = [(r, c) for r, c in planned if finished_row(out / r.name) is None]
        _inline(pending, out, data, cfg, {}, lambda s: None, len(planned))
        return []
    # The same --out again continues the study (its config was checked above); one writer at a time.
    resume = (out / "config.yaml").is_file()
    with claim(out, kind, resolved, resume=resume, overwrite_flag=None):
        return _run_claimed(
            cfg, out, planned, data, device, resolved, launcher, submitit_options, log, jobs
        )


def _run_claimed(
    cfg: ExperimentConfig,
    out: Path,
    planned: list[tuple[Run, ExperimentConfig]],
    data: Any,
    device: Any,
    resolved: dict[str, Any],
    launcher: str,
    submitit_options: SubmititOptions | None,
    log: Callable[[str], None],
    jobs: int | str = 1,
) -> list[GridRow]:
    write_yaml(out / "config.yaml", resolved)
    barrier()  # under torchrun: the directory is ready, the other ranks start with rank 0
    prov = provenance(device, data)
    pending = []
    for r, c in planned:
        if finished_row(out / r.name) is None:
            pending.append((r, c))
        else:
            log(f"{r.name}: finished earlier, skipped")
    log(
        f"grid: {len(planned)} run(s) in {out} ({len(planned) - len(pending)} finished earlier); "
        f"data {data.describe()}; device {prov['device']}"
    )
    jobs = _jobs(jobs, pending, data, prov, log) if launcher == "inline" else 1
    if launcher == "inline" and jobs > 1:
        errors = run_local(pending, out, prov, jobs, run_job, log)
    elif launcher == "inline":
        errors = _inline(pending, out, data, cfg, prov, log, len(planned))
    else:
        errors = _submitit(pending, out, prov, submitit_options or SubmititOptions(), log)
    threshold = cfg.grid.threshold_acc
    rows = []
    for r, _ in planned:
        row = finished_row(out / r.name)
        rows.append(
            grid_row(
                r,
                out / r.name,
                row,
                threshold,
                errors.get(r.name) or (None if row else "did not finish"),
            )
        )
    prov["finished"] = now()
    first = first_start(out, [r for r, _ in planned], prov["started"])
    if first != prov["started"]:
        prov["resumed"], prov["started"] = prov["started"], first
    write_json(out / "grid.json", grid_blob(cfg, rows, data.num_classes, prov))
    return rows


def grid_blob(
    cfg: ExperimentConfig, rows: list[GridRow], num_classes: int, prov: dict[str, Any]
) -> dict[str, Any]:
    """What grid.json holds: the study's config and axes, every run's row and the per-cell summary."""
    axes = [parse_axis(a) for a in cfg.grid.axes]
    return {
        "config": to_dict(cfg),
        "axes": [{"keys": list(a.keys), "values": [list(v) for v in a.values]} for a in axes],
        "seeds": list(cfg.grid.seeds),
        "threshold_acc": cfg.grid.threshold_acc,
        "num_classes": num_classes,
        "provenance": prov,
        "runs": rows,
        "summary": summarise(rows),
    }


def unfinished_grid(out: Path) -> dict[str, Any]:
    """grid.json's content for a grid that has not finished (interrupted, or still running): its
    finished runs only, with ``provenance.unfinished`` saying how many of how many. Reads only."""
    import json

    import yaml

    try:
        saved = yaml.safe_load((out / "config.yaml").read_text())
    except (OSError, yaml.YAMLError):
        raise UserError(
            f"{out} holds no readable config.yaml; it is not a grid directory"
        ) from None
    cfg = from_dict(saved, f"{out}/config.yaml")
    runs = expand([parse_axis(a) for a in cfg.grid.axes], cfg.grid.seeds)
    rows, prov, num_classes = [], {}, None
    for r in runs:
        row = finished_row(out / r.name)
        if row is None:
            continue
        rows.append(grid_row(r, out / r.name, row, cfg.grid.threshold_acc))
        info = json.loads((out / r.name / "run.json").read_text())
        prov = prov or dict(info.get("provenance") or {})
        diagnosis = out / r.name / "diagnosis.json"
        if num_classes is None and diagnosis.is_file():
            num_classes = json.loads(diagnosis.read_text()).get("num_classes")
    if not rows:
        raise UserError(f"no run of the grid in {out} has finished yet; nothing to report")
    prov["unfinished"] = f"{len(rows)} of {len(runs)} runs finished"
    return grid_blob(cfg, rows, num_classes or 10, prov)


def first_start(out: Path, runs: list[Run], started: str) -> str:
    """When the grid first started: the earliest of this invocation's start and the starts its runs
    recorded (a resumed run keeps the start of the invocation that began it), so that running a
    finished or interrupted grid again keeps the original start."""
    first, first_text = dt.datetime.fromisoformat(started), started
    for r in runs:
        text = recorded_start(out / r.name / "run.json")
        try:
            when = dt.datetime.fromisoformat(text) if text else None
        except ValueError:
            continue  # a start that is not a time
        if when is not None and when.tzinfo is not None and when < first:
            first, first_text = when, text
    return first_text


def with_grid(cfg: ExperimentConfig, **changes: Any) -> ExperimentConfig:
    return dataclasses.replace(cfg, grid=dataclasses.replace(cfg.grid, **changes))
