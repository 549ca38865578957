"""One study: planned runs trained by one launcher, each in its own run directory.

Every command that trains several runs is a study on this module: ``compare`` (models x seeds),
``grid`` (cells x seeds) and ``sweep`` (a grid preset). A command plans its runs (a
:class:`PlannedRun` with its resolved config each), claims its output directory, and hands the
unfinished runs to :func:`launch`, which trains them with one of the launchers:

- ``inline``: this process, one run after another (under torchrun: every run data-parallel);
- ``--jobs N`` (inline, N > 1): N runs at once in spawned local processes (local_jobs.py);
- ``submitit``: each run a job (a Slurm job array, or local processes without Slurm).

The rows are always read back from the run directories (``experiment.finished_row``), so a study
started with one launcher can be finished with another; what a command writes from them
(results.json, grid.json, sweep.json) is its own.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from .config import ExperimentConfig, from_dict, to_dict
from .data import DataSplits, load_data
from .distributed import from_env, place
from .errors import UserError, exception_line
from .experiment import (
    ResultRow,
    RunSpec,
    builder_options,
    check_same_data,
    finished_row,
    train_model,
    train_or_resume,
)
from .local_jobs import DataShape, PrefixedLines, choose_jobs, jobs_that_fit, run_local
from .resources import training_bytes
from .train import setup_runtime

LAUNCHERS = ("inline", "submitit")
# --jobs auto on a study smaller than this (training steps of its pending runs, all together) trains
# one run at a time without measuring: the probe (process starts and torch imports, a few steps per
# model and job count, a few seconds each) would cost about what running several at once could save
# (about a third of the study's time at best, docs/performance.md). Tests' tiny studies stay inline.
AUTO_MIN_STEPS = 1000


@dataclass(frozen=True)
class PlannedRun:
    """One run of a study, before it trains: which model, at which seed, in which directory."""

    cell: str  # the group it is summarised in (a grid cell; compare: the model)
    settings: dict[str, Any]  # dotted key -> typed value of every axis (compare: none)
    seed: int
    name: str  # its run directory's name
    model: str  # the registered model (or module:factory) it trains
    # What run.json records about the run's place in its study (a grid: its cell and settings).
    record: dict[str, Any] = field(default_factory=dict)


Planned = list[tuple[PlannedRun, ExperimentConfig]]
# Whether a run that raised stops the study (the exception propagates) rather than being recorded
# as an error while the other runs go on.
StopOn = Callable[[PlannedRun, Exception], bool]


def never(run: PlannedRun, exc: Exception) -> bool:
    return False


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


@dataclass(frozen=True)
class Launch:
    """How a study's runs are trained: the launcher, runs at once on this machine (``jobs``: a
    number or "auto", inline only; None, the CLI's default: "auto" for a study of at least
    ``AUTO_MIN_STEPS`` training steps, 1 for a smaller one) and the submitit job settings."""

    launcher: str = "inline"
    jobs: int | str | None = 1
    submitit: SubmititOptions = SubmititOptions()

    def check(self) -> None:
        """Refused in one line before anything is read or written."""
        launcher, jobs = self.launcher, self.jobs
        if from_env().active and (launcher != "inline" or jobs not in (1, None)):
            raise UserError(
                "under torchrun every run trains data-parallel in turn (--launcher inline, --jobs "
                "1); submitit and --jobs start their own processes, so run them without torchrun"
            )
        if (
            jobs not in ("auto", None)
            and (not isinstance(jobs, int) or jobs < 1)
            or (jobs not in (1, None) and launcher != "inline")
        ):
            raise UserError(
                f"--jobs must be >= 1 and is for this machine's processes (got {jobs} with "
                f"--launcher {launcher}); submitit sets its parallelism with --max-parallel"
            )
        if launcher not in LAUNCHERS:
            raise UserError(f"unknown launcher {launcher!r}; choose one of: {', '.join(LAUNCHERS)}")
        if launcher == "submitit":
            submitit_module()


def pending_runs(
    planned: Planned, out: Path, log: Callable[[str], None], data: DataSplits | None = None
) -> Planned:
    """The runs that have not finished; each finished one is said and skipped. ``data``: the data
    every run trains on (compare), refused for a finished run trained on others (a grid with a
    data axis cannot tell before it loads each run's data), and so is an unfinished one, here
    before any run starts (so also under --jobs, whose workers would check it one by one)."""
    pending = []
    for run, cfg in planned:
        if data is not None:
            check_same_data(out / run.name, data)
        if finished_row(out / run.name) is None:
            pending.append((run, cfg))
        else:
            log(f"{run.name}: finished earlier, skipped")
    return pending


def launch(
    how: Launch,
    pending: Planned,
    out: Path,
    base: ExperimentConfig,
    data: DataSplits,
    prov: dict[str, Any],
    log: Callable[[str], None],
    *,
    total: int | None = None,
    stop_on: StopOn = never,
    kind: str = "grid",
) -> dict[str, str]:
    """Train every pending run in ``out`` as ``how`` says; returns {run name: one-line error} of
    the runs that raised (the others went on). ``data``: the data of the study's config ``base``,
    which inline runs with the same data settings share. ``total``: the study's size, for the progress bar."""
    if how.launcher == "submitit":
        return _submitit(pending, out, prov, how.submitit, log, kind)
    jobs = _jobs(how.jobs, pending, data, prov, log)
    if jobs > 1:
        return run_local(longest_first(pending, data), out, prov, jobs, run_job, log, kind)
    return _inline(pending, out, base, data, prov, log, total or len(pending), stop_on, kind)


def _model_of(cfg: ExperimentConfig, model: str, data: DataSplits) -> tuple[str, dict, tuple, int]:
    """(model, the options it is built with, image shape, batch) of a run's config on ``data``."""
    options = builder_options(model, cfg, data)
    return model, options, tuple(data.image_shape), cfg.train.batch_size


def _steps(cfg: ExperimentConfig, train_images: int) -> int:
    """The optimiser steps a run will take (from its config: epochs of ``train_images`` in
    batches, or ``max_steps`` where that comes first)."""
    t = cfg.train
    steps = t.epochs * -(-train_images // t.batch_size)
    return min(steps, t.max_steps) if t.max_steps is not None else steps


def _planned_steps(pending: Planned, train_images: int) -> int:
    """The optimiser steps the pending runs will take in all."""
    return sum(_steps(cfg, train_images) for _, cfg in pending)


def longest_first(pending: Planned, data: DataSplits) -> Planned:
    """The runs in the order jobs take them: the longest first (steps x the model's training-memory
    estimate, which grows with its activations and so with its compute), so that the short runs
    fill the cores at the end instead of one long run training alone on a share of them (in plan
    order, a sweep's deepest nets come last). Runs that cannot be estimated keep their order,
    after the others; each run's numbers do not depend on the order."""
    sizes: dict[str, int] = {}

    def cost(item: tuple[PlannedRun, ExperimentConfig]) -> int:
        run, cfg = item
        model = _model_of(cfg, run.model, data)
        if repr(model) not in sizes:
            sizes[repr(model)] = training_bytes(*model) or 0
        return _steps(cfg, len(data.train)) * sizes[repr(model)]

    return sorted(pending, key=cost, reverse=True)  # stable: equal costs keep the plan's order


def _jobs(jobs: int | str | None, pending: Planned, data: DataSplits, prov, log) -> int:
    """How many runs at once: ``jobs``, or by measurement for "auto" (recorded in ``prov``), never
    more than the pending runs or than fit in memory; None (the CLI's default): "auto" where the
    study is large enough for the measurement to pay, else 1."""
    if jobs is None and from_env().active:  # under torchrun every run uses every rank in turn
        return 1
    if jobs is None and pending:
        steps = _planned_steps(pending, len(data.train))
        if steps < AUTO_MIN_STEPS:
            prov["jobs_probe"] = {
                "chosen": 1,
                "why": f"{steps} training steps in all, under {AUTO_MIN_STEPS}: too few for the "
                "probe to pay",
            }
            return 1
        jobs = "auto"
    if jobs in (1, None) or not pending:
        return 1
    # Each distinct model with its training-memory estimate (0: not estimated), smallest first.
    models: dict[str, tuple[tuple, ExperimentConfig]] = {}
    for run, cfg in pending:
        model = _model_of(cfg, run.model, data)
        models.setdefault(repr(model), (model, cfg))
    sized = sorted(
        ((training_bytes(*m) or 0, m[0], cfg) for m, cfg in models.values()), key=lambda t: t[0]
    )
    if jobs == "auto":
        shape = DataShape(data.num_classes, tuple(data.image_shape))
        probes = {
            "smallest": (sized[0][1], to_dict(sized[0][2]), shape),
            "largest": (sized[-1][1], to_dict(sized[-1][2]), shape),
        }
        jobs, prov["jobs_probe"] = choose_jobs(probes, len(pending))
        measured = prov["jobs_probe"].get("throughput_vs_one_job", "-")
        log(f"--jobs auto: {jobs} at once (measured: {measured})")
    return jobs_that_fit(min(int(jobs), len(pending)), data, sized[-1][0], log)


def execute(
    cfg: ExperimentConfig,
    run: PlannedRun,
    run_dir: Path,
    data: DataSplits,
    device,
    prov: dict[str, Any],
    log: Callable[[str], None],
) -> ResultRow:
    """Train (or resume, or skip) one run in ``run_dir``."""
    spec = RunSpec(run.model, cfg, run_dir, {"provenance": prov, **run.record})

    def train(resume: bool) -> ResultRow:
        return train_model(spec, data, device, log, resume=resume)

    return train_or_resume(run_dir, train, log, run.name, data)


def run_job(
    cfg_dict: dict[str, Any], run: PlannedRun, run_dir: str, prov: dict[str, Any]
) -> ResultRow:
    """One run as a separate job (the submitit launcher, --jobs): loads its own data and device;
    every line it prints starts with its name (several jobs may share one terminal)."""
    cfg = from_dict(cfg_dict, f"config of {run.name}")
    with contextlib.redirect_stdout(PrefixedLines(sys.stdout, f"[{run.name}] ")):
        data = load_data(cfg.data)
        device = setup_runtime(cfg.train)
        prov = {**prov, "device": str(device)}
        return execute(cfg, run, Path(run_dir), data, device, prov, print)


def _inline(
    pending: Planned,
    out: Path,
    base: ExperimentConfig,
    data: DataSplits,
    prov: dict[str, Any],
    log: Callable[[str], None],
    total: int,
    stop_on: StopOn,
    kind: str,
) -> dict[str, str]:
    errors = {}
    # The study's data serve every run whose data settings are the study's; a data.* axis (e.g.
    # data.train_subset) changes what a run trains on, so such runs load their own.
    datasets = {base.data: data}
    bar = tqdm(
        total=total,
        initial=total - len(pending),
        desc=kind,
        unit="run",
        disable=not sys.stderr.isatty(),
    )
    for i, (run, cfg) in enumerate(pending, 1):
        log(f"[{i}/{len(pending)}] {run.name}")
        try:
            if cfg.data not in datasets:
                datasets[cfg.data] = load_data(cfg.data)
            device = setup_runtime(cfg.train)
            prov_run = {**prov, "device": str(device)}
            execute(cfg, run, out / run.name, datasets[cfg.data], device, prov_run, log)
        except Exception as exc:
            if place().active or stop_on(run, exc):
                # Under torchrun the other ranks may be inside this run's collectives: going on
                # would pair them with the next run's. Stop the study (rerun to resume it).
                raise
            errors[run.name] = exception_line(exc)
            # With the progress; the command ends with one line on stderr naming every failed run.
            log(f"{run.name}: error: {errors[run.name]}; going on with the other runs")
        bar.update()
    bar.close()
    return errors


def submitit_module():
    try:
        import submitit
    except ImportError:
        raise UserError(
            "--launcher submitit needs the submitit package; pip install 'resnet-lab[cluster]'"
        ) from None
    return submitit


def _submitit(
    pending: Planned,
    out: Path,
    prov: dict[str, Any],
    opts: SubmititOptions,
    log: Callable[[str], None],
    kind: str,
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
    bar = tqdm(total=len(pending), desc=kind, unit="run", disable=not sys.stderr.isatty())
    for start in range(0, len(pending), max(wave, 1)):
        chunk = pending[start : start + max(wave, 1)]
        with executor.batch():  # on Slurm: one job array for the whole study
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
