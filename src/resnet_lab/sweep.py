"""``resnet-lab sweep``: the degradation experiment — depths x {plain, resnet} x seeds.

One run directory per combination (``<out>/<family><depth>-seed<seed>/``, the same layout as a
compare model run). Resumable: a finished run (run.json status "completed") is skipped, an
interrupted one continues from its last completed epoch, a run that never finished an epoch starts
again. ``sweep.json``/``sweep.md`` hold every run's row and the mean +- std over seeds per family and
depth, next to the published numbers.
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
from functools import partial
from pathlib import Path
from typing import Any, Callable

from tqdm.auto import tqdm

from .compare import train_model, train_or_resume
from .config import ExperimentConfig, to_dict
from .data import load_data
from .errors import UserError
from .models.cifar import PAPER_DEPTHS
from .runs import now, provenance, write_json, write_yaml
from .train import setup_runtime

# He et al. 2015, Table 6: ResNet test error (%), best of runs (110: 6.61 +- 0.16 over 5 runs).
PAPER_TEST_ERROR = {("resnet", 20): 8.75, ("resnet", 32): 7.51, ("resnet", 44): 7.17, ("resnet", 56): 6.97,
                    ("resnet", 110): 6.43}
# nabla0001/resnet: mean +- std of 5 runs with the paper's recipe.
REPRO_TEST_ERROR = {("resnet", 20): (8.51, 0.22), ("resnet", 56): (7.40, 0.27), ("resnet", 110): (7.14, 0.20),
                    ("plain", 20): (9.78, 0.13), ("plain", 56): (12.95, 0.22)}


def run_name(family: str, depth: int, seed: int) -> str:
    return f"{family}{depth}-seed{seed}"


def model_for(family: str, depth: int) -> tuple[str, dict[str, Any]]:
    """Registered name and extra options: ``plain56`` etc. for the paper's depths, else ``cifar_net``."""
    if depth in PAPER_DEPTHS:
        return f"{family}{depth}", {}
    return "cifar_net", {"depth": depth, "skip": family == "resnet"}


def run_sweep(cfg: ExperimentConfig, out_dir: str | Path, log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    out = Path(out_dir)
    saved = out / "config.yaml"
    resolved = to_dict(cfg)
    if saved.is_file():
        import yaml

        if yaml.safe_load(saved.read_text()) != resolved:
            raise UserError(f"{out} holds a sweep with a different config; resume it with the same settings or "
                            "choose another --out")
    elif out.exists() and any(out.iterdir()):
        raise UserError(f"{out} exists and is not a sweep directory; choose another --out")
    data = load_data(cfg.data)
    device = setup_runtime(cfg.train)
    out.mkdir(parents=True, exist_ok=True)
    write_yaml(saved, resolved)
    prov = provenance(device, data.source)
    combos = [(f, d, s) for d in cfg.sweep.depths for f in cfg.sweep.families for s in cfg.sweep.seeds]
    rows = []
    bar = tqdm(combos, desc="sweep", unit="run", disable=not sys.stderr.isatty())
    for i, (family, depth, seed) in enumerate(bar, 1):
        run_dir = out / run_name(family, depth, seed)
        name, extra = model_for(family, depth)
        run_cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, seed=seed))
        train = partial(train_model, name, run_cfg, data, device, run_dir, {"provenance": prov}, log,
                        model_extra=extra)
        log(f"[{i}/{len(combos)}] {run_dir.name}")
        row = train_or_resume(run_dir, train, log, run_dir.name)
        row.update(family=family, depth=depth, seed=seed, run=run_dir.name)
        rows.append(row)
    prov["finished"] = now()
    summary = summarise(rows)
    write_json(out / "sweep.json", {"config": resolved, "provenance": prov, "runs": rows, "summary": summary})
    return rows


def _mean_std(values: list[float]) -> tuple[float, float | None]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (family, depth): final training error, validation and test error, mean +- std over seeds."""
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["family"], r["depth"]), []).append(r)
    out = []
    for (family, depth), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        train_err = [100 - r["final_train_acc"] for r in rs]
        val_err = [100 - r["final_val_acc"] for r in rs]
        test_err = [100 - r["test_acc"] for r in rs]
        out.append({
            "family": family, "depth": depth, "seeds": [r["seed"] for r in rs],
            "train_error": _mean_std(train_err), "val_error": _mean_std(val_err), "test_error": _mean_std(test_err),
            "verdicts_final": sorted({r["verdict_final"] for r in rs}),
            "paper_test_error": PAPER_TEST_ERROR.get((family, depth)),
            "repro_test_error": REPRO_TEST_ERROR.get((family, depth)),
        })
    return out
