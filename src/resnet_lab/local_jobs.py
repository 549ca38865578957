"""Several runs of a study at once on one machine (``--jobs N``), each in its own process with its
share of the cores.

Small convolutions do not scale across threads, independent runs do (issue 31 measured 1.5x the
throughput for two resnet20 runs at one thread each against one run at two threads on a 2-core
CPU). The processes are ``concurrent.futures``' spawned workers; each run is the grid engine's
``run_job`` (it loads its own data from the decoded cache and writes its own run directory), so a
study is resumed, reported and aggregated exactly as with one run at a time, and may be finished
with another ``--jobs``.

A run's thread count is part of its numbers (the summation order of a convolution depends on it),
so it is fixed when the run starts and recorded in the run's config.yaml: a run continued later
keeps the count it started with, whatever ``--jobs`` says then, and a run at t threads gives the
same numbers alone or beside others.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import sys
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import yaml
from tqdm.auto import tqdm

from .config import ExperimentConfig, to_dict
from .data.memory import DECODED_BYTES_PER_ELEMENT, TRAIN_EXTRA_BYTES_PER_ELEMENT, available_memory
from .errors import exception_line, note_once


def cores() -> int:
    """The cores this process may use (its CPU affinity where the OS tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def thread_share(cfg: ExperimentConfig, run_dir: Path, jobs: int) -> ExperimentConfig:
    """``cfg`` with the threads this run trains with: the user's ``train.threads`` if set, else the
    count the run started with (its config.yaml; 0 = torch's default, as a run started one at a
    time has it), else ``cores // jobs`` for a run that starts now."""
    if cfg.train.threads:
        return cfg
    try:
        saved = yaml.safe_load((run_dir / "config.yaml").read_text())
        threads = int(saved["train"]["threads"])
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError):
        threads = max(1, cores() // jobs)  # not started yet
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, threads=threads))


def jobs_that_fit(jobs: int, data: Any, model_bytes: int, log: Callable[[str], None]) -> int:
    """At most ``jobs``, and no more than fit in memory: each job holds its own copy of the decoded
    data (data/memory.py's per-element costs) and trains its own model (``model_bytes``, the
    largest run's estimate)."""
    elements = sum(s.images.numel() for s in (data.train, data.val, data.test))
    per_job = elements * DECODED_BYTES_PER_ELEMENT
    per_job += data.train.images.numel() * TRAIN_EXTRA_BYTES_PER_ELEMENT + model_bytes
    fit = max(1, available_memory() // max(per_job, 1))
    if fit < jobs:
        note_once(
            f"--jobs {jobs}: only {fit} run(s) fit in memory at once (about "
            f"{per_job / 2**30:.1f} GiB each); running {fit}"
        )
    return min(jobs, fit)


class PrefixedLines:
    """A text stream that starts every line written to ``stream`` with ``prefix``."""

    def __init__(self, stream, prefix: str):
        self.stream, self.prefix, self._at_start = stream, prefix, True

    def write(self, text: str) -> int:
        out = []
        for piece in text.splitlines(keepends=True):
            out.append((self.prefix if self._at_start else "") + piece)
            self._at_start = piece.endswith("\n")
        self.stream.write("".join(out))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def __getattr__(self, name: str):  # isatty, encoding, fileno: the stream's own
        return getattr(self.stream, name)


class _NoBars:
    """A worker's stderr: the same stream, but not a terminal to the progress bars (the parent draws
    the study's one bar; N workers' epoch bars would overwrite each other)."""

    def __init__(self, stream):
        self._stream = stream

    def isatty(self) -> bool:
        return False

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def gpu_slots(jobs: int) -> list[str] | None:
    """The GPU each of ``jobs`` workers sees (its CUDA_VISIBLE_DEVICES), round robin over this
    machine's visible GPUs, so that N jobs on N GPUs get one each and more jobs than GPUs share them
    (several small runs fit on one GPU); None on a machine without a GPU (the workers keep the
    parent's environment)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = [i.strip() for i in visible.split(",") if i.strip()]
    else:
        import torch

        ids = [str(i) for i in range(torch.cuda.device_count())]
    return [ids[i % len(ids)] for i in range(jobs)] if ids else None


def _worker_start(slots=None) -> None:
    # One GPU per worker (gpu_slots), set before the run imports torch.cuda in this fresh process.
    if slots is not None:
        import queue

        try:  # one slot per worker; a worker started beyond them keeps the parent's GPUs
            os.environ["CUDA_VISIBLE_DEVICES"] = slots.get(timeout=5)
        except queue.Empty:
            pass
    # Ctrl-C and a SIGTERM sent to the whole process group (timeout(1), kill -- -PGID, a batch
    # system) reach the workers too; the parent alone decides, and stops the workers with STOP_SIGNAL,
    # so that no worker prints a traceback or goes on with its next run. (SIGSTOP/SIGCONT and
    # SIGKILL to the group still reach them: a paused study pauses whole.)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(STOP_SIGNAL, _stop)
    sys.stderr = _NoBars(sys.stderr)


STOP_SIGNAL = signal.SIGUSR1  # the parent's "stop now" to a worker (never sent to a group)
_stopping = False  # in a worker: the parent said stop; the runs still queued to it are skipped


def _stop(signum, frame) -> None:
    global _stopping
    _stopping = True
    raise SystemExit(143)  # unwinds the run: it keeps its last completed epoch


def _until_stopped(job: Callable[..., Any], *args: Any) -> Any:
    """``job(*args)`` in a worker, or nothing once the parent has said stop: the pool catches a
    SystemExit as a run's result and hands the worker its next queued run, which must not start.
    (Exiting the process instead would leak the pool's semaphores.)"""
    if _stopping:
        return None
    try:
        return job(*args)
    except SystemExit:
        return None


def run_local(
    pending: list[tuple[Any, ExperimentConfig]],
    out: Path,
    prov: dict[str, Any],
    jobs: int,
    job: Callable[..., Any],
    log: Callable[[str], None],
    kind: str = "grid",
) -> dict[str, str]:
    """Run ``job(cfg_dict, run, run_dir, prov)`` for every pending run, ``jobs`` at a time, in
    spawned processes; returns {run name: one-line error} of the runs that failed (the others go
    on). An interrupt stops every worker (each run keeps its last completed epoch) and is raised."""
    log(f"local jobs: {len(pending)} run(s), {jobs} at a time")
    errors: dict[str, str] = {}
    bar = tqdm(total=len(pending), desc=kind, unit="run", disable=not sys.stderr.isatty())
    context = get_context("spawn")
    slots = None
    # A run that names its GPU (--device cuda:1) keeps it: the workers see every GPU then.
    named = any(str(cfg.train.device).startswith("cuda:") for _, cfg in pending)
    if not named and (gpus := gpu_slots(jobs)) is not None:
        slots = context.Queue()
        for gpu in gpus:
            slots.put(gpu)
        log(f"local jobs: GPU(s) {', '.join(gpus)} (one per job, CUDA_VISIBLE_DEVICES)")
    pool = ProcessPoolExecutor(
        jobs, mp_context=context, initializer=_worker_start, initargs=(slots,)
    )
    try:
        futures = {}
        for run, cfg in pending:
            cfg = thread_share(cfg, out / run.name, jobs)
            future = pool.submit(_until_stopped, job, to_dict(cfg), run, str(out / run.name), prov)
            futures[future] = run
        remaining = set(futures)
        while remaining:
            done, remaining = wait(remaining, return_when=FIRST_COMPLETED)
            for future in done:
                run = futures[future]
                try:
                    future.result()
                    log(f"{run.name}: done")
                except Exception as exc:  # noqa: BLE001 - recorded; the other runs go on
                    errors[run.name] = exception_line(exc)
                    log(f"{run.name}: error: {errors[run.name]}; going on with the other runs")
                bar.update()
    except BaseException:
        for process in list(getattr(pool, "_processes", {}).values()):
            with contextlib.suppress(ProcessLookupError):  # each run resumes from its last epoch
                os.kill(process.pid, STOP_SIGNAL)
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        bar.close()
    pool.shutdown(wait=True)
    return errors


# ------------------------------------------------------------------ --jobs auto: chosen by measurement

PROBE_WARMUP, PROBE_STEPS = 2, 5  # untimed steps, then timed ones (median), per probe process


@dataclass(frozen=True)
class DataShape:
    """All a probe needs of the study's data: the model's output and input sizes."""

    num_classes: int
    image_shape: tuple[int, ...]


def probe_step(model: str, cfg_dict: dict[str, Any], shape: DataShape, threads: int) -> float:
    """Median seconds of one training step (the runs' own ``train_step``: their optimiser, amp and
    memory layout) of ``model`` configured by ``cfg_dict`` at ``threads`` threads, on random images
    (a worker process of :func:`choose_jobs`; the numbers of no run depend on it)."""
    import statistics
    import time

    import torch

    from .config import from_dict
    from .experiment import build_state
    from .train import train_step

    cfg = from_dict(cfg_dict, "the probed run's config")
    torch.set_num_threads(threads)
    state = build_state(model, cfg, shape, torch.device("cpu"))[0]
    state.model.train()
    x = torch.randn(cfg.train.batch_size, *shape.image_shape)
    y = torch.randint(0, shape.num_classes, (cfg.train.batch_size,))
    times = []
    for i in range(PROBE_WARMUP + PROBE_STEPS):
        start = time.perf_counter()
        train_step(state, x, y)
        if i >= PROBE_WARMUP:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


# Several jobs are chosen only where they beat one by more than the probe's noise: 5 timed steps
# per process vary by a few per cent, and a tie should keep one run at a time (output in order,
# numbers at the thread count docs/results.md was measured with). The README's quick compare
# measured 1.01x on this project's Xeon: a tie.
MIN_GAIN = 1.05


def pick(speedup: dict[int, float]) -> int:
    """The job count with the highest measured throughput relative to one job, or 1 where none
    beats it by ``MIN_GAIN``."""
    best = max(speedup, key=lambda k: speedup[k])
    return best if speedup[best] >= MIN_GAIN else 1


def choose_jobs(
    probes: dict[str, tuple[str, dict[str, Any], DataShape]], runs: int
) -> tuple[int, dict[str, Any]]:
    """The number of jobs that trains fastest on this machine, by measurement: for each k dividing
    the cores (up to the number of runs), k probe processes at once, each at cores/k threads, time
    training steps of each probed run (``probes``: label -> (its model, its config as a dict,
    the data's shape), the study's largest and smallest run); k's throughput is k / its slowest process's step time,
    relative to one process with every core, averaged over the probed models. Returns k and the
    measurements (recorded in the study's provenance)."""
    n = cores()
    candidates = [k for k in range(1, min(n, runs) + 1) if n % k == 0]
    if len(candidates) < 2:
        return 1, {
            "cores": n,
            "runs": runs,
            "chosen": 1,
            "why": "one run or one core: nothing to choose",
        }
    seconds: dict[int, dict[str, float]] = {}
    context = get_context("spawn")
    for k in candidates:
        seconds[k] = {}
        for label, (model, cfg_dict, shape) in probes.items():
            with ProcessPoolExecutor(k, mp_context=context, initializer=_worker_start) as pool:
                args = (model, cfg_dict, shape, n // k)
                seconds[k][label] = max(pool.map(probe_step, *zip(*[args] * k)))
    speedup = {
        k: sum(seconds[1][label] * k / seconds[k][label] for label in probes) / len(probes)
        for k in candidates
    }
    best = pick(speedup)
    record = {
        "cores": n,
        "runs": runs,
        "step_seconds": {str(k): v for k, v in seconds.items()},
        "throughput_vs_one_job": {str(k): round(v, 3) for k, v in speedup.items()},
        "chosen": best,
    }
    return best, record
