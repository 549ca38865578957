"""The Python API: the toolkit's analyses on any ``nn.Module``, from a script or a notebook.

Re-exported from ``resnet_lab`` (``import resnet_lab as rl``). Nothing here changes state the
caller did not ask for: models keep their parameters, gradients, buffers and train/eval mode;
no global seed or thread setting is touched; nothing is written unless an output path is given.

>>> import torch
>>> from torch import nn
>>> import resnet_lab as rl
>>> data = rl.data.synthetic()
>>> _ = torch.manual_seed(0)
>>> net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
...                     nn.Linear(8, 10))
>>> d = rl.diagnose(net, data)
>>> d["verdict"]["init"]["verdict"] in ("healthy", "vanishing gradients", "exploding gradients", "dead units")
True
>>> [layer["name"] for layer in d["probe"]["init"]["layers"]]
['conv1', 'fc']
>>> stats = rl.probe(net, (torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])))
>>> sorted(stats)
['layers', 'logits', 'loss']
"""

from __future__ import annotations

import contextlib
import copy
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .data import DataSplits
from .errors import UserError


def diagnose(
    model: nn.Module,
    data: DataSplits,
    *,
    before: nn.Module | dict[str, torch.Tensor] | None = None,
    device: str | torch.device = "cpu",
) -> dict[str, Any]:
    """The seed-style analysis of ``model`` on ``data`` (predictions on a fixed test batch, per-layer
    response and gradient statistics, a verdict by the rules of docs/diagnostics.md). With
    ``before`` (the same net earlier: a module or a state_dict), ``model`` is analysed as the
    trained net against it: relative weight change, prediction shift, and a finding. Returns the
    format of a run's ``diagnosis.json``. ``model`` must already be on ``device``."""
    from .diagnostics.analyze import analyse_models

    device = torch.device(device)
    if before is None:
        return analyse_models(model, None, data, device=device)
    if isinstance(before, dict):
        earlier = copy.deepcopy(model)
        earlier.load_state_dict(before)
        before = earlier
    return analyse_models(before, model, data, device=device)


def probe(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, Any]:
    """One forward + backward on ``batch`` = (images, labels): loss, logits and per-layer statistics
    (response mean/std, dead fraction, weight norm and std, gradient norm). The model is left as it was."""
    from .diagnostics.hooks import probe as _probe

    x, y = batch
    return _probe(model, x, y)


def load_run(run_dir: str | Path) -> dict[str, Any]:
    """A finished compare directory: config, provenance and, per model run, its results row, history
    and diagnosis (what ``resnet-lab report`` reads)."""
    from .reporting.report import load_run as _load_run

    return _load_run(run_dir)


def report(run_dirs: list[str | Path], out: str | Path | None = None) -> tuple[Path, Path]:
    """Write report.html and report.md for one or more finished compares (into ``out``, default the
    first); returns their paths."""
    from .reporting.report import write_report

    return write_report(list(run_dirs), out)


@contextlib.contextmanager
def _scoped_runtime() -> Iterator[None]:
    """Training seeds torch's RNG per run and may set threads or cuDNN autotune: undo all of it after."""
    threads, benchmark = torch.get_num_threads(), torch.backends.cudnn.benchmark
    with torch.random.fork_rng(devices=range(torch.cuda.device_count())):
        try:
            yield
        finally:
            torch.set_num_threads(threads)
            torch.backends.cudnn.benchmark = benchmark


@contextlib.contextmanager
def _registered(factories: dict[str, Callable[..., nn.Module]]) -> Iterator[None]:
    """The caller's factories under their names, for the duration of one call only."""
    from . import registry

    taken = sorted(set(factories) & set(registry.list_models()))
    if taken:
        raise UserError(
            f"{', '.join(taken)} is a registered model name; give your model another name"
        )
    try:
        for name, factory in factories.items():
            registry.register_model(name)(factory)
        yield
    finally:
        for name in factories:
            registry.unregister_model(name)


def compare(
    models: Mapping[str, str | nn.Module | Callable[..., nn.Module]],
    config: Any = "smoke",
    out: str | Path | None = None,
    *,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train ``models`` under identical settings, as ``resnet-lab compare`` does, and return the run as
    :func:`load_run` gives it. ``models`` maps a name to a registered name or ``file.py:factory``
    spec (a string), a factory (called with the options it takes, e.g. ``num_classes``), or a module
    (a copy of it is trained). ``config``: a preset name, a dict of dotted settings (e.g.
    ``{"preset": "quick", "train.epochs": 3}``) or an ``ExperimentConfig``. ``out=None`` trains in a
    temporary directory and keeps only what is returned (no checkpoints)."""
    from .comparison import run_compare
    from .config import ExperimentConfig, resolve

    factories: dict[str, Callable[..., nn.Module]] = {}
    names = []
    for name, model in models.items():
        if isinstance(model, str):
            names.append(model)
        elif isinstance(model, nn.Module):
            factories[name] = lambda m=model: copy.deepcopy(m)
            names.append(name)
        elif callable(model):
            factories[name] = model
            names.append(name)
        else:
            raise UserError(
                f"model {name!r} is a {type(model).__name__}; give a name, a factory or an nn.Module"
            )
    with _registered(factories), _scoped_runtime():
        if isinstance(config, ExperimentConfig):
            import dataclasses

            cfg = dataclasses.replace(config, models=tuple(names))
        elif isinstance(config, str):
            cfg = resolve(config, None, {"models": names})
        else:
            settings = dict(config or {})
            cfg = resolve(settings.pop("preset", None), None, {**settings, "models": names})
        if out is not None:
            run_compare(cfg, out, log=log)
            return load_run(out)
        with tempfile.TemporaryDirectory(prefix="resnet-lab-") as tmp:
            run_compare(cfg, Path(tmp) / "run", log=log)
            run = load_run(Path(tmp) / "run")
        run["dir"] = None  # gone with the temporary directory
        return run
