"""``resnet-lab analyze NAME RUN_DIR...``: one analysis over trained runs, one JSON + one figure.

Everything that can be wrong with the input (no checkpoints, an unfinished or diverged run, a model
the analysis cannot handle, a directions file of another model, a bad ``--subset``) is checked
before the first measurement, and nothing is written until every run has been measured, so bad
input leaves the disk as it was. Results go to ``OUT/analysis/NAME.json`` (one entry per run,
merged with the entries of earlier calls for other runs) and ``OUT/analysis/NAME.png``; ``resnet-lab
report`` (and the sweep and grid reports) add a section for each such file
(reporting/analyses.py).
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import UserError
from ..rundir import hold_runs
from ..runs import atomic_write_bytes, now, write_json
from . import ANALYSES, analysis
from .common import (
    TrainedRun,
    describe,
    label_runs,
    load_trained,
    model_runs,
    progress,
    validation_images,
)

STUDY_FILES = (
    "results.json",
    "sweep.json",
    "grid.json",
)  # a directory holding one of these is a study


@dataclass(frozen=True)
class AnalysisOptions:
    subset: int | None = None  # validation images (lines for shatter); None: the analysis' default
    seed: int = 0  # random draws (lesion) and directions (landscape)
    draws: int = 5  # lesion: draws per number of deleted units
    resolution: int = 21  # landscape: 2-D grid points per axis
    directions: str | None = None  # landscape: a saved directions file to reuse
    data_dir: str | None = None  # where the runs' data set is now, if it moved
    other_data: bool = False  # measure on data other than the runs were trained on (said, recorded)
    device: str = "cpu"

    def validate(self) -> None:
        if self.subset is not None and self.subset < 1:
            raise UserError(f"--subset must be a positive number of images, got {self.subset}")
        if self.draws < 1:
            raise UserError(f"--draws must be >= 1, got {self.draws}")
        if self.resolution < 3 or self.resolution % 2 == 0:
            raise UserError(
                f"--resolution must be an odd number >= 3 (the trained weights are the middle point), "
                f"got {self.resolution}"
            )
        if self.directions is not None and not Path(self.directions).is_file():
            raise UserError(
                f"directions file {self.directions} does not exist; pass a .pt file written by "
                "'resnet-lab analyze landscape' (in analysis/landscape-directions/)"
            )


def default_out(paths: list[str | Path], runs: list[TrainedRun]) -> Path:
    """The first RUN_DIR; when every analysed run lies in one study directory, that directory."""
    parents = {r.dir.parent for r in runs}
    if len(parents) == 1:
        parent = next(iter(parents))
        if any((parent / f).is_file() for f in STUDY_FILES):
            return parent
    return Path(paths[0])


def _data_for(runs: list[TrainedRun], opts: AnalysisOptions) -> list[tuple[Any, str | None]]:
    """Each run's data splits (in run order), each distinct data config loaded once, and what
    differs from the data the run was trained on (None: nothing; only with ``opts.other_data``)."""
    from ..config import from_dict
    from ..data import load_data
    from ..experiment import check_same_data

    loaded: dict[str, Any] = {}
    out = []
    for r in runs:
        cfg = from_dict(r.config, f"{r.dir}/checkpoints/final.pt config").data
        if opts.data_dir and cfg.dataset != "synthetic":  # synthetic data have no folder
            cfg = dataclasses.replace(cfg, data_dir=opts.data_dir)
        key = json.dumps(dataclasses.asdict(cfg), sort_keys=True)
        if key not in loaded:
            loaded[key] = load_data(cfg)
        # A run analysed on other data would mislead, unless asked for and recorded.
        out.append((loaded[key], check_same_data(r.dir, loaded[key], allow=opts.other_data)))
    return out


def run_analysis(
    name: str,
    paths: list[str | Path],
    out: str | Path | None = None,
    opts: AnalysisOptions = AnalysisOptions(),
    log=print,
) -> Path:
    """Run analysis ``name`` on the model runs in ``paths``; returns the JSON file written."""
    if name not in ANALYSES:
        raise UserError(f"unknown analysis {name!r}; choose one of: {', '.join(ANALYSES)}")
    opts.validate()
    with hold_runs([Path(p) for p in paths] + ([Path(out)] if out else [])):
        return _run_held(name, paths, out, opts, log)


def _run_held(name: str, paths: list[str | Path], out, opts: AnalysisOptions, log) -> Path:
    """run_analysis with the runs' directories locked."""
    mod = analysis(name)
    named = model_runs(paths)
    runs = []
    for d, explicit in named.items():
        try:
            runs.append(load_trained(d))
        except UserError as exc:
            if explicit:
                raise
            # A grid may hold diverged or unfinished cells: analyse the others, say which were left out.
            log(f"{name}: leaving out {d.name}: {exc}")
    if not runs:
        raise UserError(f"{name} found no finished run to analyse in {', '.join(map(str, paths))}")
    out_dir = Path(out) if out else default_out(paths, runs)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {out_dir} is a file; pass a directory")
    directions = _load_directions(opts.directions) if opts.directions else None
    device = torch.device(opts.device)
    data = _data_for(runs, opts)
    subset = opts.subset or mod.DEFAULT_SUBSET
    jobs = []  # (run, data, x, y, work) -- all checked before the first measurement
    for r, (d, other) in zip(runs, data):
        x, y = validation_images(d, subset, device)
        try:
            work = mod.prepare(r, x, y, opts, directions)
        except ValueError as exc:
            if named[r.dir]:
                raise UserError(f"{name} cannot analyse {r.dir} ({r.model}): {exc}") from None
            # Found inside a study directory (e.g. a compare's simple_cnn, which has no layer to delete):
            # analyse the others and say why this one is left out.
            log(f"{name}: leaving out {r.dir.name} ({r.model}): {exc}")
            continue
        jobs.append((r, d, other, x, y, work))
    if not jobs:
        raise UserError(f"{name} can analyse none of the runs given (see the lines above)")
    label_runs([j[0] for j in jobs])

    entries, files = [], {}
    bar = progress(sum(j[-1] for j in jobs), name)
    try:
        for r, d, other, x, y, _ in jobs:
            start = time.perf_counter()
            result, attachments = mod.measure(r, x, y, opts, directions, bar=bar, device=device)
            entry = {
                **_entry_head(r, d, other, len(x)),
                "seconds": round(time.perf_counter() - start, 1),
                **result,
            }
            for fname, blob in attachments.items():
                files[fname] = blob
                entry["directions_file"] = fname
            entries.append(entry)
            log(f"{name}: {r.label}: {entry['seconds']:.1f} s")
    finally:
        bar.close()
    return _write(out_dir, name, mod, entries, files)


def _entry_head(r: TrainedRun, d: Any, other: str | None, images: int) -> dict[str, Any]:
    """What every analysis entry says of the run it measured and the data it measured on."""
    return {
        "run": str(r.dir),
        "label": r.label,
        "model": r.model,
        "options": r.options,
        **describe(r.build("final")),
        "num_classes": d.num_classes,
        "chance": 100.0 / d.num_classes,
        "split": "validation",
        "images": images,
        "data": d.source,
        **({"other_data": other} if other else {}),
    }


def _load_directions(path: str) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 -- torch.load fails in many ways on a bad file
        raise UserError(
            f"directions file {path} is unreadable ({type(exc).__name__}); pass one "
            "written by 'resnet-lab analyze landscape'"
        ) from None


def _write(
    out_dir: Path, name: str, mod, entries: list[dict[str, Any]], files: dict[str, Any]
) -> Path:
    from ..reporting.analyses import read_entries
    from ..reporting.report import png

    folder = out_dir / "analysis"
    path = folder / f"{name}.json"
    merged = {e["run"]: e for e in read_entries(path)}
    merged.update({e["run"]: e for e in entries})
    all_entries = list(merged.values())
    try:
        image = png(mod.figure(all_entries))  # drawn before anything is written
    except (KeyError, TypeError, ValueError, IndexError):
        # An entry written by another version of this analysis: keep only this call's entries.
        all_entries = entries
        image = png(mod.figure(all_entries))
    folder.mkdir(parents=True, exist_ok=True)
    for fname, blob in files.items():
        target = folder / fname
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, lambda fh, blob=blob: torch.save(blob, fh))
    write_json(
        path, {"analysis": name, "title": mod.TITLE, "written": now(), "entries": all_entries}
    )
    atomic_write_bytes(folder / f"{name}.png", lambda fh: fh.write(image))
    return path
