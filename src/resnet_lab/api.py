"""The Python API: the toolkit's analyses on any ``nn.Module``, from a script or a notebook.

Re-exported from ``resnet_lab`` (``import resnet_lab as rl``). Nothing here changes state the
caller did not ask for: models keep their parameters, gradients, buffers and train/eval mode;
no global seed or thread setting is touched; nothing is written unless an output path is given.

Examples:
    >>> import torch
    >>> from torch import nn
    >>> import resnet_lab as rl
    >>> data = rl.data.synthetic()
    >>> _ = torch.manual_seed(0)
    >>> net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    ...                     nn.Linear(8, 10))
    >>> d = rl.diagnose(net, data)
    >>> d["verdict"]["init"]["verdict"] in ("healthy", "vanishing gradients", "exploding gradients", "dead units", "non-finite output")
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
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .data import DataSplits
from .errors import UserError
from .run_view import Run, from_report


def diagnose(
    model: nn.Module,
    data: DataSplits,
    *,
    before: nn.Module | dict[str, torch.Tensor] | None = None,
    device: str | torch.device = "cpu",
    optimizer: str | None = None,
    lr: float | None = None,
    momentum: float = 0.0,
) -> dict[str, Any]:
    """The seed-style analysis of ``model`` on ``data`` (predictions on a fixed test batch, per-layer
    response and gradient statistics, a verdict by the rules of docs/diagnostics.md). With
    ``before`` (the same net earlier: a module or a state_dict), ``model`` is analysed as the
    trained net against it: relative weight change, prediction shift, and a finding. With ``lr``
    (and ``optimizer``: "sgd", the default, or "adam"; ``momentum``: SGD's), the outcome that
    optimiser is predicted to reach from the initial weights (``"prediction"``: trains / stays at
    ln C / diverges, with the rules that fired). Returns the format of a run's ``diagnosis.json``.
    ``model`` must already be on ``device``."""
    from .diagnostics.diagnose import analyse_models

    device = torch.device(device)
    if optimizer is not None and lr is None:
        raise ValueError(f"optimizer={optimizer!r} needs its lr to predict an outcome; pass lr=")
    optim = None if lr is None else {"name": optimizer or "sgd", "lr": lr, "momentum": momentum}
    steps = {"optim": optim}
    if before is None:
        return analyse_models(model, None, data, device=device, **steps)
    if isinstance(before, dict):
        earlier = copy.deepcopy(model)
        earlier.load_state_dict(before)
        before = earlier
    return analyse_models(before, model, data, device=device, **steps)


def probe(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, Any]:
    """One forward + backward on ``batch`` = (images, labels): loss, logits and per-layer statistics
    (response mean/std, dead fraction, weight norm and std, gradient norm). The model is left as it was."""
    from .diagnostics.hooks import measure_layers

    x, y = batch
    return measure_layers(model, x, y)


def load_run(run_dir: str | Path) -> Run:
    """A finished compare directory (what ``resnet-lab report`` reads) as a :class:`Run`: config,
    provenance, per model run a :class:`ModelRun` (its results row as typed fields, history and
    diagnosis), per model the mean ± std over its seeds, and ``to_frame()`` (with pandas)."""
    from .reporting.report import read_compare

    return from_report(read_compare(run_dir))


def report(runs: Sequence[str | Path | Run], out: str | Path | None = None) -> tuple[Path, Path]:
    """Write report.html and report.md for one or more finished compares, given as run directories
    or :class:`Run` objects kept on disk (into ``out``, default the first); returns their paths."""
    from .reporting.report import write_report

    dirs: list[str | Path] = []
    for run in runs:
        if isinstance(run, Run):
            if run.dir is None:
                raise UserError(
                    "this Run was trained with out=None and kept nothing on disk to report; "
                    "call rl.compare(..., out=<directory>) to report it"
                )
            dirs.append(run.dir)
        else:
            dirs.append(run)
    return write_report(dirs, out)


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
) -> Run:
    """Train ``models`` under identical settings, as ``resnet-lab compare`` does, and return the run as
    :func:`load_run` gives it (a :class:`Run`). ``models`` maps a name to a registered name or
    ``file.py:factory`` spec (a string), a factory (called with the options it takes, e.g.
    ``num_classes``), or a module (a copy of it is trained). ``config``: a preset name, a dict of
    dotted settings (e.g. ``{"preset": "quick", "train.epochs": 3}``) or an ``ExperimentConfig``.
    ``out=None`` trains in a temporary directory and keeps only what is returned (no checkpoints;
    ``Run.dir`` and each ``ModelRun.dir`` are None)."""
    from .comparison import run_compare
    from .reporting.report import read_compare as read_run

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
        cfg = _config(config, {"models": names})
        if out is not None:
            run_compare(cfg, out, log=log)
            return load_run(out)
        with tempfile.TemporaryDirectory(prefix="resnet-lab-") as tmp:
            run_compare(cfg, Path(tmp) / "run", log=log)
            # no paths kept: they go with the temporary directory
            return from_report(read_run(Path(tmp) / "run"), keep_dir=False)


def grid(
    axes: Sequence[str] | Mapping[str, Sequence[Any]],
    config: Any = "grid-smoke",
    out: str | Path | None = None,
    *,
    seeds: Sequence[int] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run a study over config axes, as ``resnet-lab grid`` does, and return its grid.json (every
    run's row and the mean ± std per cell). ``axes``: axis specs (``"model.depth=8,20"``, joint
    ``"optim.name+optim.lr=sgd+0.01,adam+0.001"``) or a mapping of typed values
    (``{"model.skip": [False, True]}``, joint ``{"optim.name+optim.lr": [("sgd", 0.01)]}``).
    ``config`` as for :func:`compare` (``grid.model`` names the net every cell builds);
    ``out=None`` runs in a temporary directory."""
    import json

    from .grid_engine import axis_of, run_grid

    if isinstance(axes, Mapping):  # typed values: each an Axis, stored as its spec
        axes = [axis_of(k, vs).spec for k, vs in axes.items()]
    extra: dict[str, Any] = {"grid.axes": list(axes)}
    if seeds is not None:
        extra["grid.seeds"] = list(seeds)
    with _scoped_runtime():
        cfg = _config(config, extra)
        if out is not None:
            run_grid(cfg, out, log=log)
            return json.loads((Path(out) / "grid.json").read_text())
        with tempfile.TemporaryDirectory(prefix="resnet-lab-") as tmp:
            run_grid(cfg, Path(tmp) / "grid", log=log)
            return json.loads((Path(tmp) / "grid" / "grid.json").read_text())


def _config(config: Any, overrides: dict[str, Any]) -> Any:
    """An ExperimentConfig from a preset name, a dict of dotted settings (``"preset"`` allowed) or an
    ExperimentConfig, with ``overrides`` applied on top."""
    from .config import ExperimentConfig, apply_overrides, resolve, validate
    from .registry import check_model_names

    if isinstance(config, ExperimentConfig):
        cfg = apply_overrides(config, overrides, "rl call")
        validate(cfg)
        check_model_names(cfg.models)
        return cfg
    if isinstance(config, str):
        return resolve(config, None, overrides)
    settings = dict(config or {})
    return resolve(settings.pop("preset", None), None, {**settings, **overrides})
