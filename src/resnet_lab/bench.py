"""``resnet-lab bench``: how fast resnet-lab trains, measured side by side with the conventional way.

Two variants of the same training (same model, seed, batch size, optimiser, number of steps):

* **resnet-lab**: the run's config as given (in-memory uint8 data on the device, batched
  augmentation, channels_last, and bf16 / torch.compile where configured);
* **conventional**: torchvision's dataset with per-image ``RandomCrop(padding=4)``,
  ``RandomHorizontalFlip``, ``ToTensor``, ``Normalize`` in a ``DataLoader`` with worker processes,
  NCHW, fp32, no compile (``data.pipeline=dataloader``).

``throughput`` times training steps after a warm-up, alternating the two variants' order every
repeat so that drift in the machine's speed does not land on one side, and reports the median,
the spread and the ratio of medians. It also counts the FLOPs of one training step
(:class:`torch.utils.flop_counter.FlopCounterMode`, forward + backward) and sets the achieved
GFLOP/s against a large matrix multiply measured on the same device and threads (the practical
ceiling). ``end-to-end`` runs ``resnet-lab compare`` once per variant and times it whole.
``diagnostics`` times resnet-lab's own training with and without the diagnostics callback at the
configured interval, two models stepping in turn, to show what the per-layer recording costs.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from .comparison import run_compare
from .config import ExperimentConfig, to_dict
from .data import DataSplits, load_data, make_batches
from .distributed import from_env
from .errors import UserError
from .experiment import build_state
from .rundir import claim
from .runs import peak_memory, provenance, write_json
from .train import TrainState, amp_enabled, autocast, callback_step, setup_runtime, train_step


def conventional(cfg: ExperimentConfig) -> ExperimentConfig:
    """The same experiment the way most CIFAR reproductions run it."""
    return dataclasses.replace(
        cfg,
        data=dataclasses.replace(cfg.data, pipeline="dataloader"),
        train=dataclasses.replace(cfg.train, channels_last=False, amp="off", compile=False),
    )


def variants(cfg: ExperimentConfig) -> dict[str, ExperimentConfig]:
    return {"resnet-lab": cfg, "conventional": conventional(cfg)}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_ceiling(
    device: torch.device, dtype: torch.dtype = torch.float32, n: int | None = None, repeats: int = 5
) -> float:
    """GFLOP/s of a large square matrix multiply on ``device`` (median of ``repeats`` timings)."""
    n = n or (8192 if device.type == "cuda" else 2048)
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    for _ in range(2):
        a @ b
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        a @ b
        _sync(device)
        times.append(time.perf_counter() - start)
    return 2 * n**3 / statistics.median(times) / 1e9


def fresh_state(
    name: str, cfg: ExperimentConfig, data: DataSplits, device: torch.device
) -> TrainState:
    """A newly initialised model (seeded like every run) in train mode, ready for train_step."""
    state = build_state(name, cfg, data, device)[0]
    state.model.train()
    return state


def step_flops(state: TrainState, x: torch.Tensor, y: torch.Tensor) -> int:
    """FLOPs of one training step's forward and backward pass (the optimiser's few are left out)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        with autocast(state.amp, x.device):
            loss = F.cross_entropy(state.model(x), y)
        loss.backward()
    state.optimizer.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def _timed(device: torch.device, work: Callable[..., object], *args: object) -> float:
    """Seconds ``work(*args)`` takes, the device synchronised on both sides."""
    _sync(device)
    start = time.perf_counter()
    work(*args)
    _sync(device)
    return time.perf_counter() - start


def _endless(batches, first_epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    epoch = first_epoch
    while True:
        batches.set_epoch(epoch)
        yield from batches
        epoch += 1


def time_steps(state: TrainState, batches, steps: int, warmup: int, epoch: int) -> float:
    """Images per second over ``steps`` training steps (data loading included), after ``warmup``."""
    stream = _endless(batches, epoch)
    try:
        for _ in range(warmup):
            train_step(state, *next(stream))
        _sync(batches.device)
        start, images = time.perf_counter(), 0
        for _ in range(steps):
            x, y = next(stream)
            train_step(state, x, y)
            images += len(y)
        _sync(batches.device)
        return images / (time.perf_counter() - start)
    finally:
        stream.close()  # shuts a DataLoader's workers down


def throughput(
    cfg: ExperimentConfig,
    data: DataSplits,
    device: torch.device,
    *,
    steps: int,
    warmup: int,
    repeats: int,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Side-by-side training throughput of both variants for every model of ``cfg.models``."""
    vs = variants(cfg)
    batches = {label: make_batches(data, c, device)["train"] for label, c in vs.items()}
    dtypes = {
        "fp32": torch.float32,
        **({"bf16": torch.bfloat16} if amp_enabled(cfg.train, device) else {}),
    }
    # The ceiling is measured again after every model and the median used: a shared VM's speed
    # drifts, and a single measurement would move every utilisation figure with it.
    samples: dict[str, list[float]] = {k: [matmul_ceiling(device, dt)] for k, dt in dtypes.items()}
    results = []
    for name in cfg.models:
        rates: dict[str, list[float]] = {label: [] for label in vs}
        for rep in range(repeats):
            order = list(vs) if rep % 2 == 0 else list(vs)[::-1]
            for label in order:
                state = fresh_state(name, vs[label], data, device)
                rates[label].append(time_steps(state, batches[label], steps, warmup, epoch=rep))
        for k, dt in dtypes.items():
            samples[k].append(matmul_ceiling(device, dt))
        x, y = next(iter(make_batches(data, cfg, device)["train"]))
        flops = step_flops(fresh_state(name, cfg, data, device), x, y)
        results.append(
            {
                "model": name,
                "images_per_s": {k: statistics.median(v) for k, v in rates.items()},
                "all_images_per_s": rates,
                "gflop_per_step": flops / 1e9,
                "batch_size": len(y),
            }
        )
    ceilings = {k: statistics.median(v) for k, v in samples.items()}
    log(
        f"matmul ceiling on {device} with {torch.get_num_threads()} threads (median of {len(results) + 1}): "
        + ", ".join(
            f"{k} {v:,.0f} GFLOP/s (spread {min(samples[k]):,.0f}-{max(samples[k]):,.0f})"
            for k, v in ceilings.items()
        )
    )
    ceiling = ceilings["bf16" if "bf16" in ceilings else "fp32"]
    for row in results:
        lab, conv = row["images_per_s"]["resnet-lab"], row["images_per_s"]["conventional"]
        per_image = row["gflop_per_step"] / row["batch_size"]
        row.update(
            ratio=lab / conv,
            achieved_gflops=per_image * lab,
            utilisation=per_image * lab / ceiling,
            conventional_utilisation=per_image * conv / ceilings["fp32"],
        )
        log(format_row(row))
    return {
        "ceilings_gflops": ceilings,
        "ceiling_samples": samples,
        "steps": steps,
        "warmup": warmup,
        "repeats": repeats,
        "models": results,
    }


def format_row(r: dict[str, Any]) -> str:
    spread = lambda k: f"{min(r['all_images_per_s'][k]):.0f}-{max(r['all_images_per_s'][k]):.0f}"
    return (
        f"{r['model']:14s} resnet-lab {r['images_per_s']['resnet-lab']:8.0f} img/s ({spread('resnet-lab')})  "
        f"conventional {r['images_per_s']['conventional']:8.0f} img/s ({spread('conventional')})  "
        f"ratio {r['ratio']:.2f}x  |  {r['gflop_per_step']:.2f} GFLOP/step, {r['achieved_gflops']:.0f} GFLOP/s "
        f"= {100 * r['utilisation']:.0f}% of the matmul ceiling"
    )


def diagnostics_overhead(
    cfg: ExperimentConfig,
    data: DataSplits,
    device: torch.device,
    *,
    steps: int,
    repeats: int,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Training time without and with the diagnostics callback (every ``train.diag_every`` steps,
    plus its probes at the start and end), measured *paired*.

    Two identically seeded models train side by side, one step each in turn (which goes first
    alternates), so that the speed drifts of a shared machine (+-15 % over tens of seconds on the
    2-core VM) fall on both sides alike; timing two whole runs one after the other could not
    resolve a cost of a few per cent. Only the steps and the callback's own work are timed: the
    per-epoch evaluation both sides pay is left out, which makes the reported cost an upper bound.
    """
    from .diagnostics.diagnose import fixed_batch
    from .diagnostics.hooks import DiagnosticsCallback

    probe = fixed_batch(data.train, data, device=device)
    every = cfg.train.diag_every
    log(
        f"\ndiagnostics overhead: {steps} steps, recording every {every} steps "
        f"({steps // every} records + 2 probes of {len(probe[1])} images), {repeats} paired repeats"
    )
    results = []
    for name in cfg.models:
        rates: dict[str, list[float]] = {"off": [], "on": []}
        slowdowns = []
        for rep in range(repeats):
            states = {label: fresh_state(name, cfg, data, device) for label in rates}
            streams = {
                label: _endless(make_batches(data, cfg, device)["train"], rep) for label in rates
            }
            spent = dict.fromkeys(rates, 0.0)
            with tempfile.TemporaryDirectory() as tmp:
                callbacks = {
                    "off": [],
                    "on": [DiagnosticsCallback(Path(tmp) / "d.jsonl", probe, every=every)],
                }

                recorder, on = callbacks["on"][0], states["on"]
                spent["on"] += _timed(device, recorder.on_fit_start, on)
                for i in range(steps):
                    for label in ("off", "on") if (i + rep) % 2 == 0 else ("on", "off"):
                        x, y = next(streams[label])
                        spent[label] += _timed(
                            device, callback_step, states[label], x, y, callbacks[label]
                        )
                spent["on"] += _timed(device, recorder.on_fit_end, on)
                records = len(callbacks["on"][0].records)
            for label, values in rates.items():
                values.append(steps * cfg.train.batch_size / spent[label])
            slowdowns.append(spent["on"] / spent["off"] - 1)
        row = {
            "model": name,
            "images_per_s": {k: statistics.median(v) for k, v in rates.items()},
            "all_images_per_s": rates,
            "slowdown": statistics.median(slowdowns),
            "all_slowdowns": slowdowns,
            "records": records,
        }
        results.append(row)
        log(
            f"{name:14s} without {row['images_per_s']['off']:8.0f} img/s  with {row['images_per_s']['on']:8.0f} img/s"
            f"  slowdown {100 * row['slowdown']:+.1f}% (repeats {', '.join(f'{100 * s:+.1f}%' for s in slowdowns)})"
        )
    return {
        "steps": steps,
        "every": every,
        "repeats": repeats,
        "design": "paired, alternating steps",
        "models": results,
    }


def end_to_end(
    cfg: ExperimentConfig, out: Path, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Wall time of a whole ``compare`` (training, evaluation, diagnostics, checkpoints) per variant."""
    result: dict[str, Any] = {}
    for label, c in variants(cfg).items():
        log(f"\n== end to end: {label} ==")
        start = time.perf_counter()
        rows = run_compare(c, out / label, log=log)
        result[label] = {
            "seconds": time.perf_counter() - start,
            "test_acc": {r["model"]: r["test_acc"] for r in rows},
        }
    result["ratio"] = result["conventional"]["seconds"] / result["resnet-lab"]["seconds"]
    return result


def study(
    cfg: ExperimentConfig, out: Path, repeats: int, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """A whole study (``cfg``'s grid, or its sweep as a grid) trained one run at a time with every
    core (``--jobs 1``) and with ``--jobs auto``, ``repeats`` times, alternating which goes first;
    the wall times (auto's probe included) and the ratio of the medians, with each repeat's ratio."""
    from .grid_engine import run_grid
    from .study import Launch
    from .sweep import as_grid

    grid = cfg if cfg.grid.axes else as_grid(cfg)
    seconds: dict[str, list[float]] = {"one at a time": [], "jobs auto": []}
    chosen = []
    for i in range(repeats):
        order = list(seconds) if i % 2 == 0 else list(reversed(seconds))
        for label in order:
            jobs = 1 if label == "one at a time" else "auto"
            target = out / f"study-{i}-{'sequential' if jobs == 1 else 'auto'}"
            start = time.perf_counter()
            run_grid(grid, target, how=Launch(jobs=jobs), log=lambda line: None)
            seconds[label].append(time.perf_counter() - start)
            if jobs == "auto":
                probe = json.loads((target / "grid.json").read_text())["provenance"]["jobs_probe"]
                chosen.append(probe["chosen"])
            log(f"study repeat {i + 1}: {label}: {seconds[label][-1]:.0f} s")
    ratios = [a / b for a, b in zip(seconds["one at a time"], seconds["jobs auto"])]
    result = {
        "runs": len(json.loads((target / "grid.json").read_text())["runs"]),
        "seconds": seconds,
        "jobs_chosen": chosen,
        "ratio_of_medians": statistics.median(seconds["one at a time"])
        / statistics.median(seconds["jobs auto"]),
        "ratio_per_repeat": ratios,
    }
    log(
        f"study: one at a time {statistics.median(seconds['one at a time']):.0f} s, --jobs auto "
        f"{statistics.median(seconds['jobs auto']):.0f} s (jobs {chosen}): "
        f"{result['ratio_of_medians']:.2f}x (per repeat {', '.join(f'{r:.2f}' for r in ratios)})"
    )
    return result


def run_bench(
    cfg: ExperimentConfig,
    out_dir: str | Path,
    *,
    mode: str = "throughput",
    steps: int = 30,
    warmup: int = 5,
    repeats: int = 3,
    diag_steps: int = 300,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    if from_env().active:
        raise UserError(
            "bench measures one process; run it without torchrun (data-parallel speed: "
            "docs/performance.md, 'Beyond one process')"
        )
    data = load_data(cfg.data)
    device = setup_runtime(cfg.train)
    out = Path(out_dir)
    # bench has no --overwrite: a benchmark is cheap to rerun into a new --out.
    with claim(out, "bench", to_dict(cfg), overwrite_flag=None):
        # Unpack / open the conventional pipeline's files before any timing, as a user would have them.
        if mode != "study":
            make_batches(data, conventional(cfg), device)
        report: dict[str, Any] = {
            "config": to_dict(cfg),
            "provenance": provenance(device, data),
            "conventional": "torchvision dataset, per-image RandomCrop/Flip/ToTensor/Normalize, "
            f"DataLoader(num_workers={cfg.data.workers}), NCHW, fp32",
        }
        log(
            f"data: {data.source}; device {report['provenance']['device']}, {torch.get_num_threads()} threads; "
            f"batch {cfg.train.batch_size}; conventional = {report['conventional']}"
        )
        if mode in ("throughput", "all"):
            report["throughput"] = throughput(
                cfg, data, device, steps=steps, warmup=warmup, repeats=repeats, log=log
            )
        if mode in ("diagnostics", "all"):
            report["diagnostics"] = diagnostics_overhead(
                cfg, data, device, steps=diag_steps, repeats=repeats, log=log
            )
        if mode == "study":  # not part of "all": a whole study, many times over
            report["study"] = study(cfg, out, repeats, log=log)
        if mode in ("end-to-end", "all"):
            e2e = report["end_to_end"] = end_to_end(cfg, out, log=log)
            log(
                f"\nend to end ({cfg.preset} preset): resnet-lab {e2e['resnet-lab']['seconds']:.0f} s, conventional "
                f"{e2e['conventional']['seconds']:.0f} s, ratio {e2e['ratio']:.2f}x"
            )
        report["memory"] = peak_memory(device)  # the whole bench process's peak
        log(f"peak memory: {report['memory']}")
        write_json(out / "bench.json", report)
    return report
