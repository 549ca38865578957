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

import dataclasses
import datetime as dt
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import (
    ExperimentConfig,
    apply_overrides,
    field_types,
    from_dict,
    to_dict,
    typed_value,
    validate,
)
from .data import load_data
from .distributed import barrier, place
from .errors import UserError
from .experiment import ResultRow, finished_row, history
from .outcome import Outcome
from .registry import create_model, model_options
from .reporting.grid_conclusions import summarise
from .resources import CPU, check_model_fits
from .rundir import claim, has_content
from .runs import finishing_provenance, provenance, recorded_start, write_json, write_yaml
from .study import Launch, Planned, PlannedRun, launch, pending_runs
from .train import setup_runtime

# Keys that a grid cannot vary: the seed has --seeds, and the grid's own settings define the grid.
_NOT_AXES = ("train.seed", "grid.axes", "grid.seeds", "grid.threshold_acc", "preset", "models")


@dataclass(frozen=True)
class Axis:
    """One study axis, typed: its config keys and, per value, one typed value per key. Its
    ``spec`` (``KEY=V1,V2`` / ``K1+K2=a+b,c+d``) is how config.yaml stores it (so that a saved study
    reads back as written); ``parse_axis(axis.spec) == axis``."""

    keys: tuple[str, ...]
    values: tuple[tuple[Any, ...], ...]  # one tuple per value, aligned with keys

    @property
    def spec(self) -> str:
        def one(v: Any) -> str:
            return str(v).lower() if isinstance(v, bool) else str(v)

        values = ",".join("+".join(one(v) for v in value) for value in self.values)
        return f"{'+'.join(self.keys)}={values}"


def axis_of(key: str, values: Any) -> Axis:
    """An Axis from typed values (the Python API: ``{"model.skip": [False, True]}``, or a joint
    ``{"optim.name+optim.lr": [("sgd", 0.01), ("adam", 1e-3)]}``), each value checked and typed by
    its key's field exactly as on the command line."""
    keys = tuple(k.strip() for k in key.split("+"))
    rows = [tuple(v) if len(keys) > 1 else (v,) for v in values]
    return parse_axis(Axis(keys, tuple(rows)).spec)


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
    model: str = "cifar_net",
) -> list[PlannedRun]:
    """Every cell (product of the axes, first outermost) at every seed (innermost); ``model``: the
    study's, unless a ``grid.model`` axis sets it."""
    keys = [k for a in axes for k in a.keys]
    if len(set(keys)) != len(keys):
        raise UserError("two axes set the same config key; give each key in one axis only")
    runs = []
    for combo in itertools.product(*(a.values for a in axes)):
        settings = {k: v for a, vals in zip(axes, combo) for k, v in zip(a.keys, vals)}
        cell = cell_name(settings)
        record = {"grid_cell": cell, "settings": settings}
        runs += [
            PlannedRun(
                cell, settings, s, run_name(settings, s), settings.get("grid.model", model), record
            )
            for s in seeds
        ]
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise UserError(
            "two grid runs would share a run directory name; make the axis values distinct"
        )
    return runs


def run_config(cfg: ExperimentConfig, run: PlannedRun) -> ExperimentConfig:
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


def _outcome(row: ResultRow) -> str:
    return Outcome.DIVERGED if row.get("reason") == "diverged" else row["status"]


def grid_row(
    run: PlannedRun,
    run_dir: Path,
    row: ResultRow | None,
    threshold: float,
    error: str | None = None,
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
) -> Planned:
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
    runs = expand(axes, cfg.grid.seeds, run_name, cfg.grid.model)
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
    how: Launch = Launch(),
    run_name: Callable[[dict[str, Any], int], str] = default_run_name,
    log: Callable[[str], None] = print,
    kind: str = "grid",
) -> list[GridRow]:
    """Run (or resume) the study ``cfg.grid`` in ``out_dir`` as ``how`` launches it (study.py);
    writes grid.json and returns the rows. ``kind``: the command whose directory this is
    (``sweep`` runs on this engine too)."""
    how.check()
    planned = plan(cfg, run_name)
    out = Path(out_dir)
    resolved = to_dict(cfg)
    _prepare_out(out, resolved)
    data = load_data(cfg.data)  # also checks the data before anything is written
    device = setup_runtime(cfg.train)
    if not place().is_main:  # under torchrun: train every cell along; rank 0 owns the directory
        barrier()
        pending = pending_runs(planned, out, lambda s: None)
        launch(how, pending, out, cfg, data, {}, lambda s: None, kind=kind)
        return []
    # The same --out again continues the study (its config was checked above); one writer at a time.
    resume = (out / "config.yaml").is_file()
    with claim(out, kind, resolved, resume=resume, overwrite_flag=None):
        write_yaml(out / "config.yaml", resolved)
        barrier()  # under torchrun: the directory is ready, the other ranks start with rank 0
        prov = provenance(device, data)
        pending = pending_runs(planned, out, log)
        log(
            f"{kind}: {len(planned)} run(s) in {out} ({len(planned) - len(pending)} finished "
            f"earlier); data {data.describe()}; device {prov['device']}"
        )
        errors = launch(how, pending, out, cfg, data, prov, log, total=len(planned), kind=kind)
        prov = finishing_provenance(prov, out / "grid.json", trained=bool(pending))
        return _collect(cfg, out, planned, errors, data.num_classes, prov)


def _collect(
    cfg: ExperimentConfig,
    out: Path,
    planned: Planned,
    errors: dict[str, str],
    num_classes: int,
    prov: dict[str, Any],
) -> list[GridRow]:
    """Every run's row (an error for a run that did not finish) into grid.json."""
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
    first = first_start(out, [r for r, _ in planned], prov["started"])
    if first != prov["started"]:
        prov["resumed"], prov["started"] = prov["started"], first
    write_json(out / "grid.json", grid_blob(cfg, rows, num_classes, prov))
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
    runs = expand([parse_axis(a) for a in cfg.grid.axes], cfg.grid.seeds, model=cfg.grid.model)
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


def first_start(out: Path, runs: list[PlannedRun], started: str) -> str:
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
