"""Typed, frozen experiment configuration with one precedence: defaults < preset < file < command line.

Configs are nested dataclasses; overrides are flat mappings of dotted keys (``"optim.lr": 0.1``),
which is also what a YAML config file flattens to. The training defaults are the seed experiment's
"2015 technology level": no LR schedule, weight decay 0, SGD at lr 0.01. Model options (init, norm,
shortcut, skip, depth) are unset by default, so every model is built with its own defaults (the
seed's nets: no BN, PyTorch's init; He et al.'s plainN/resnetN: BN, He init). The resolved config is
saved with every run (``config.yaml``) and inside every checkpoint.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

# Each section lives beside the code that owns it, with its types, defaults, help and checks
# (data/settings.py, models/settings.py, train_settings.py); this module composes them, holds the
# presets and the one precedence, and keeps naming where a bad value came from.
from .data.settings import DataConfig, check_data_config
from .errors import UserError, shown
from .fields import one_of, positive, setting  # noqa: F401 - re-exported for the section checks
from .models.settings import MAX_DEPTH, ModelConfig, check_model_config
from .train_settings import OptimConfig, TrainConfig, check_optim_config, check_train_config

# The sections whose every field the training commands take as a flag.
TRAINING_SECTIONS = ("data", "model", "optim", "train")


@functools.cache  # fixed by the dataclasses; the CLI asks once per subcommand's parser
def settings() -> tuple[tuple[str, dataclasses.Field, Any], ...]:
    """(dotted key, field, annotated type) of every setting of the training sections, in order."""
    hints = typing.get_type_hints(ExperimentConfig)
    out = []
    for section in TRAINING_SECTIONS:
        cls = hints[section]
        types = typing.get_type_hints(cls)
        out += [(f"{section}.{f.name}", f, types[f.name]) for f in dataclasses.fields(cls)]
    return tuple(out)


@dataclass(frozen=True)
class SweepConfig:
    depths: tuple[int, ...] = (20, 32, 44, 56)  # 6n+2
    families: tuple[str, ...] = ("plain", "resnet")
    seeds: tuple[int, ...] = (0,)


@dataclass(frozen=True)
class GridConfig:
    """A study over any config axes (``resnet-lab grid``, grid_engine.py): one run per cell and seed."""

    model: str = "cifar_net"  # the registered model every cell builds (an axis may vary it)
    # "KEY=V1,V2,..." (dotted config key, values typed by that key's field), or a joint axis that
    # sets several keys together: "K1+K2=a+b,c+d". The grid is the product of the axes.
    axes: tuple[str, ...] = ()
    seeds: tuple[int, ...] = (0,)
    threshold_acc: float = 20.0  # validation accuracy (%) at which a run counts as "passed"


@dataclass(frozen=True)
class ExperimentConfig:
    preset: str = "quick"
    # The seed's three networks plus resnet_seed_plain, the seed ResNet without its skips: the
    # pair that differs in the skip connections alone (models/seed.py).
    models: tuple[str, ...] = ("simple_cnn", "deep_cnn", "resnet_seed", "resnet_seed_plain")
    # compare: train every model once per seed (mean +- std over them); empty: train.seed alone.
    seeds: tuple[int, ...] = ()
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    grid: GridConfig = field(default_factory=GridConfig)


# He et al. 2015, section 4.2, for the CIFAR family (used by `resnet-lab sweep`).
_PAPER = {
    "model.init": "kaiming",
    "model.norm": "batch",
    "model.shortcut": "A",
    "optim.lr": 0.1,
    "optim.momentum": 0.9,
    "optim.weight_decay": 1e-4,
    "train.batch_size": 128,
    "data.val_size": 5000,
    "data.augment": True,
}

# The trainability map (resnet-lab grid): one column per (skip, norm, init) setting.
_SETTINGS_AXIS = (
    "model.skip+model.norm+model.init="
    "false+none+default,false+none+kaiming,false+none+delta_orthogonal,false+batch+default,"
    "false+batch+kaiming,true+none+default,true+none+kaiming,true+none+fixup,true+none+skipinit,"
    "true+batch+default,true+batch+kaiming"
)
_OPTIM_AXIS = "optim.name+optim.lr=sgd+0.01,adam+0.001"
_TRAINABILITY = {
    "grid.model": "cifar_net",
    "model.shortcut": "A",
    "optim.momentum": 0.9,
    "data.augment": True,
}

# The seed experiment's controls (resnet-lab grid --preset seed-controls): one change at a time away
# from the failing configuration (DeepCNN / the seed ResNet without skips, default init, SGD). A
# joint axis lists the cells, because they are not a product: SimpleCNN as the baseline, DeepCNN
# {default, kaiming} x {sgd, adam}, the seed ResNet {skips on, off} x {default, kaiming} under SGD.
# "none": the net has no skip option (it has no skip connections).
_SEED_CONTROLS_AXIS = (
    "grid.model+model.skip+model.init+optim.name+optim.lr="
    "simple_cnn+none+default+sgd+0.01,"
    "deep_cnn+none+default+sgd+0.01,deep_cnn+none+kaiming+sgd+0.01,"
    "deep_cnn+none+default+adam+0.001,deep_cnn+none+kaiming+adam+0.001,"
    "resnet_seed+false+default+sgd+0.01,resnet_seed+true+default+sgd+0.01,"
    "resnet_seed+false+kaiming+sgd+0.01,resnet_seed+true+kaiming+sgd+0.01"
)

# Which of the seed's unstated settings decide its failure (docs/results.md; issue 28): the seed's DeepCNN
# at full width in bf16 with resnet-lab's recipe (SGD lr 0.01 momentum 0.9, batch 128, crop + flip,
# per-channel standardisation), and one cell per changed setting, each differing from the first in
# that setting alone. The runs record the step at which they leave ln 10 (escape.py) and stop one
# epoch (352 steps) after it; a run still at ln 10 after 6 epochs (2,112 steps, 1.5-2x the escape
# of the full-width run at 1,050-1,400 steps) is censored there. Measured step times (bf16, this
# 2-core AMD EPYC): 222 s per epoch at width 1, so <= 23 min per run (docs/results.md for the sizing).
ESCAPE_CELL_KEYS = (
    "grid.model+optim.momentum+optim.lr+data.augment+data.normalize+model.width_mult+train.amp"
)
ESCAPE_CELLS = {
    "recipe": "deep_cnn+0.9+0.01+true+true+1.0+bf16",
    "plain-sgd": "deep_cnn+0+0.01+true+true+1.0+bf16",  # momentum 0: a 10x smaller effective lr
    "width-0.25": "deep_cnn+0.9+0.01+true+true+0.25+bf16",
    "width-0.5": "deep_cnn+0.9+0.01+true+true+0.5+bf16",
    "plain-sgd-lr0.1": "deep_cnn+0+0.1+true+true+1.0+bf16",  # momentum 0 at the same lr/(1-m)
    "unit-inputs": "deep_cnn+0.9+0.01+true+false+1.0+bf16",  # [0, 1] pixels, no standardisation
    "no-augment": "deep_cnn+0.9+0.01+false+true+1.0+bf16",
    "resnet-plain": "resnet_seed_plain+0.9+0.01+true+true+1.0+bf16",  # the controlled pair's net
    "fp32": "deep_cnn+0.9+0.01+true+true+1.0+off",
}


def escape_axis(*cells: str) -> str:
    """The joint grid axis of the named ESCAPE_CELLS (all of them when none are named)."""
    return f"{ESCAPE_CELL_KEYS}={','.join(ESCAPE_CELLS[c] for c in cells or ESCAPE_CELLS)}"


_DEGRADATION_CPU: dict[str, Any] = {
    **_PAPER,
    "model.width_mult": 0.5,
    "data.train_subset": 15000,
    "data.val_size": 2000,
    "optim.milestones": (1000, 1500),
    "train.max_steps": 2000,
    "train.epochs": 17,
    "train.clean_train_images": 2500,
    "train.diag_every": 500,
    "train.tensorboard": False,
    "sweep.depths": (20, 56),
    "sweep.seeds": (0, 1, 2),
}

# Presets are overrides of the defaults (which are the seed's settings).
PRESETS: dict[str, dict[str, Any]] = {
    # The seed's experiment at full width, 20 epochs: meant for a GPU (about 20 min per epoch of the
    # DeepCNN alone on a 2-core CPU).
    "seed": {},
    # CPU scale: quarter width (16/32/64 channels in the deep nets), full 45k/5k split, fewer epochs.
    # Finishes in well under 20 minutes on a 2-core CPU (docs/results.md for the measured time).
    "quick": {"model.width_mult": 0.25, "train.epochs": 8},
    # Seconds, synthetic data: for tests and a first look at the outputs.
    "smoke": {
        "data.dataset": "synthetic",
        "data.val_size": 200,
        "model.width_mult": 0.125,
        "train.epochs": 2,
        "train.batch_size": 64,
    },
    # The paper's recipe: lr 0.1, /10 at 32k and 48k iterations, stop at 64k (182 epochs of 352
    # steps), warm-up at 0.01 for depth >= 110. Needs a GPU (hours on a CPU).
    "paper": {
        **_PAPER,
        "optim.milestones": (32000, 48000),
        "optim.warmup_lr": 0.01,
        "train.max_steps": 64000,
        "train.epochs": 182,
        "sweep.depths": (20, 32, 44, 56, 110),
    },
    # The paper's recipe shortened for a 2-core CPU (docs/degradation.md: measured time and result).
    "paper-quick": {
        **_PAPER,
        "data.train_subset": 11264,
        "optim.milestones": (176, 264),
        "train.max_steps": 352,
        "train.epochs": 4,
        "sweep.depths": (20, 56),
        "train.diag_every": 50,
    },
    # Meant to show degradation whole on a 2-core CPU in <= 90 min for 3 seeds; shows the plain half
    # and leaves the residual half undecided (docs/degradation.md: design, step times, result).
    # He et al.'s recipe on a half-width net (8/16/32 channels), depths 20 and 56, a 15k training
    # subset, 2,000 iterations at lr 0.1 divided by 10 at 50 % and 75 %, the clean training error on
    # a fixed 2,500-image sample after every epoch (118 steps).
    "degradation-cpu": _DEGRADATION_CPU,
    # The residual half of degradation-cpu at twice the budget (docs/degradation.md): the same nets,
    # data and seeds (so each run starts from the same weights as its degradation-cpu twin), resnet
    # only, 4,000 iterations with lr /10 at 50 % and 75 %. About 93 min for 3 seeds on a 2-core CPU.
    "degradation-cpu-residual": {
        **_DEGRADATION_CPU,
        "optim.milestones": (2000, 3000),
        "train.max_steps": 4000,
        "train.epochs": 34,
        "sweep.families": ("resnet",),
    },
    # When does a deep net train? depth x (skip, norm, init) x optimiser on He et al.'s CIFAR family
    # (docs/trainability.md). The columns pair each init with the nets it is meant for: Fixup and
    # SkipInit need skip connections, delta-orthogonal is the plain-net init. The optimisers keep the
    # seed's settings: SGD lr 0.01 momentum 0.9, Adam lr 1e-3.
    "trainability": {
        **_TRAINABILITY,
        "model.width_mult": 1.0,
        "train.epochs": 30,
        "train.batch_size": 128,
        "grid.axes": ("model.depth=8,20,32,56,110", _SETTINGS_AXIS, _OPTIM_AXIS),
        "grid.seeds": (0, 1, 2),
    },
    # The same map sized for a 2-core CPU, <= 30 min (docs/trainability.md: the measured sizing): a
    # half-width net, 240 steps of 64 images, 1,000 validation and 2,000 test images, one seed.
    "trainability-quick": {
        **_TRAINABILITY,
        "model.width_mult": 0.5,
        "train.batch_size": 64,
        "data.train_subset": 5120,
        "train.epochs": 3,
        "data.val_size": 1000,
        "data.test_subset": 2000,
        "train.diagnostics": False,
        "train.tensorboard": False,
        "grid.axes": ("model.depth=8,20,32,56", _SETTINGS_AXIS, _OPTIM_AXIS),
    },
    # The seed experiment, controlled (docs/results.md, "Which change rescues the seed's failure"): the quick
    # preset's nets and data (quarter width, full 45k/5k split) over 3 seeds, with fewer epochs so
    # that the 27 runs fit in 90 minutes on a 2-core CPU.
    "seed-controls": {
        "model.width_mult": 0.25,
        "train.epochs": 5,
        "train.tensorboard": False,
        "train.diagnostics": False,
        "grid.axes": (_SEED_CONTROLS_AXIS,),
        "grid.seeds": (0, 1, 2),
    },
    # The seed's DeepCNN at full width, one setting changed per cell (ESCAPE_CELLS above).
    "seed-escape": {
        "model.width_mult": 1.0,
        "train.amp": "bf16",
        "train.epochs": 6,
        "train.stop_after_escape": 352,
        "train.tensorboard": False,
        "grid.axes": (escape_axis(),),
        "grid.seeds": (0,),
    },
    # The candidate for the seed's recipe (docs/results.md, "Plain SGD as the seed's recipe"): the
    # seed preset with plain SGD (momentum 0, lr 0.01), in bf16 for the CPU. Measured over 20 epochs
    # with one seed: the DeepCNN stays at ln 10 while the others learn, below the seed's accuracies.
    "seed-plain-sgd": {"optim.momentum": 0.0, "train.amp": "bf16"},
    # Seconds: a 2-cell grid (plain and residual 8-layer nets) on synthetic data, for tests.
    "grid-smoke": {
        "data.dataset": "synthetic",
        "data.val_size": 200,
        "train.epochs": 2,
        "train.batch_size": 64,
        "model.width_mult": 0.25,
        "train.tensorboard": False,
        "grid.model": "cifar_net",
        "grid.axes": ("model.depth=8", "model.skip=false,true"),
    },
    # Seconds: two tiny CIFAR-family nets on synthetic data, for tests.
    "sweep-smoke": {
        **_PAPER,
        "data.dataset": "synthetic",
        "data.val_size": 200,
        "train.epochs": 2,
        "train.batch_size": 64,
        "model.width_mult": 0.25,
        "sweep.depths": (8,),
        "optim.milestones": (20,),
        "optim.lr": 0.05,
    },
}


def to_dict(cfg: Any) -> dict[str, Any]:
    """Nested plain dict (YAML/JSON/torch.load-safe: only str, int, float, bool, None, list, dict)."""

    def plain(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return list(v) if isinstance(v, tuple) else v

    return plain(dataclasses.asdict(cfg))


def flatten(mapping: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def _fields(cls: type, prefix: str = "") -> dict[str, Any]:
    """dotted key -> annotated type, for every leaf field of a config dataclass."""
    hints = typing.get_type_hints(cls)
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            out.update(_fields(tp, f"{prefix}{f.name}."))
        else:
            out[f"{prefix}{f.name}"] = tp
    return out


def known_keys() -> list[str]:
    return sorted(_fields(ExperimentConfig))


def unknown_key(key: str, origin: str) -> str:
    """The message for a setting that does not exist: the closest known keys, not all of them."""
    import difflib

    close = difflib.get_close_matches(str(key), known_keys(), n=3, cutoff=0.5)
    hint = (
        f"did you mean {' or '.join(close)}?"
        if close
        else "keys look like train.epochs or optim.lr"
    )
    return (
        f"{origin}: unknown config key {shown(key)}; {hint} (every key is a field of "
        "src/resnet_lab/config.py, written section.field)"
    )


def field_types() -> dict[str, Any]:
    """dotted key -> annotated type of every setting."""
    return _fields(ExperimentConfig)


def typed_value(key: str, value: Any, origin: str) -> Any:
    """``value`` (e.g. a string from the command line) as the type of setting ``key``."""
    types = field_types()
    if key not in types:
        raise UserError(unknown_key(key, origin))
    return _coerce(key, value, types[key], origin)


def base_type(tp: Any) -> tuple[Any, bool]:
    """``tp`` without its ``| None``, and whether it had one (``int | None`` -> ``(int, True)``)."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else tp), type(None) in args
    return tp, False


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    words = {"true": True, "yes": True, "1": True, "on": True}
    words |= {"false": False, "no": False, "0": False, "off": False}
    return words[str(value).lower()]  # KeyError: not a truth value


def _to_int(value: Any) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError
    return int(value)


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError
    return float(value)  # also parses YAML's "1e-3", which PyYAML leaves a string


def _to_str(value: Any) -> str:
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise TypeError
    return str(value)


_PARSERS = {bool: _to_bool, int: _to_int, float: _to_float, str: _to_str}


def _coerce(key: str, value: Any, tp: Any, origin: str) -> Any:
    base, optional = base_type(tp)
    # "null" (or, for a non-text option such as model.skip, "none") on a command line or grid axis:
    # unset, the model's own default. For text options "none" is a value (model.norm: none).
    unset = ("null",) if base is str or typing.get_origin(base) is Literal else ("none", "null")
    if optional and (value is None or (isinstance(value, str) and value.lower() in unset)):
        return None
    if typing.get_origin(base) is Literal:
        return _choice(key, value, typing.get_args(base), origin)
    if typing.get_origin(base) is tuple:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise UserError(f"{origin}: {key} must be a list, got {shown(value)}; fix that value")
        items = [v.strip() if isinstance(v, str) else v for v in items]
        item_type = typing.get_args(base)[0]
        return tuple(_coerce(key, v, item_type, origin) for v in items if v != "")
    try:
        parsed = _PARSERS[base](value)
    except (KeyError, TypeError, ValueError):
        name = getattr(base, "__name__", str(base))
        raise UserError(
            f"{origin}: {key} must be {name}, got {shown(value)}; fix that value"
        ) from None
    if base is float and not math.isfinite(parsed):
        raise UserError(
            f"{origin}: {key} must be a finite number, got {shown(value)}; fix that value"
        )
    return parsed


def _choice(key: str, value: Any, choices: tuple[Any, ...], origin: str) -> Any:
    if value not in choices:  # the setting's name in the message only when it is needed
        what = {k: f.metadata["what"] for k, f, _ in settings()}.get(key) or key.rsplit(".", 1)[-1]
        one_of(what, value, choices, origin)
    return value


def apply_overrides(
    cfg: ExperimentConfig, overrides: dict[str, Any], origin: str
) -> ExperimentConfig:
    """A new config with dotted-key ``overrides`` applied (types checked and coerced)."""
    types = _fields(ExperimentConfig)
    values = flatten(to_dict(cfg))
    for key, value in overrides.items():
        if key not in types:
            raise UserError(unknown_key(key, origin))
        values[key] = _coerce(key, value, types[key], origin)
    return _build(ExperimentConfig, values)


def _build(cls: type, values: dict[str, Any], prefix: str = "") -> Any:
    """Instantiate a (nested) config dataclass from dotted-key ``values``."""
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            kwargs[f.name] = _build(tp, values, f"{prefix}{f.name}.")
        else:
            value = values[f"{prefix}{f.name}"]
            kwargs[f.name] = tuple(value) if isinstance(value, list) else value
    return cls(**kwargs)


def from_dict(nested: dict[str, Any], origin: str = "saved config") -> ExperimentConfig:
    """A config from a nested dict such as a run's config.yaml or a checkpoint's ``config``.

    Keys missing from it (written by an older resnet-lab) take today's defaults; unknown keys are
    refused with a UserError naming them.
    """
    if not isinstance(nested, dict):
        raise UserError(f"{origin} is not a mapping of settings")
    return apply_overrides(ExperimentConfig(), flatten(nested), origin)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Flat dotted overrides from a YAML file (nested mappings allowed)."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(
            f"cannot read config file {path} ({exc.strerror}); check the path"
        ) from None
    except UnicodeDecodeError as exc:
        raise UserError(
            f"config file {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from None
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise UserError(f"config file {path} is not valid YAML{where}; fix its syntax") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise UserError(
            f"config file {path} must hold a mapping of keys to values, e.g. 'train: {{epochs: 5}}'"
        )
    return flatten(loaded)


def resolve(
    preset: str | None = None, file: str | Path | None = None, cli: dict[str, Any] | None = None
) -> ExperimentConfig:
    """defaults < preset < file < command line. The preset may also be named in the file."""
    file_overrides = load_yaml(file) if file else {}
    cli = dict(cli or {})
    name = preset or cli.pop("preset", None) or file_overrides.pop("preset", None) or "quick"
    file_overrides.pop("preset", None)
    one_of("preset", name, list(PRESETS))
    cfg = apply_overrides(ExperimentConfig(preset=name), PRESETS[name], f"preset {name}")
    cfg = apply_overrides(cfg, file_overrides, f"config file {file}")
    cfg = apply_overrides(cfg, cli, "command line")
    validate(cfg)
    from .registry import check_model_names  # the registry knows the models (and imports them)

    check_model_names(cfg.models)
    return cfg


# Seeds are mixed with the epoch (seed * 100003 + epoch) for the data order, which must stay within
# torch's 64-bit seed range; 2**32 - 1 (NumPy's bound) leaves room and is more than enough seeds.
MAX_SEED = 2**32 - 1


def check_seeds(seeds: tuple[int, ...], key: str = "seeds") -> None:
    """Training seeds must be distinct integers in 0..MAX_SEED."""
    bad = [s for s in seeds if not 0 <= s <= MAX_SEED]
    if bad:
        raise UserError(
            f"{key}: seeds must be between 0 and {MAX_SEED}, got {', '.join(map(str, bad))}; "
            "pass e.g. 0,1,2"
        )
    dupes = sorted({s for s in seeds if seeds.count(s) > 1})
    if dupes:
        raise UserError(f"{key} lists {', '.join(map(str, dupes))} twice; list each seed once")


def validate(cfg: ExperimentConfig) -> None:
    """Reject values that cannot work, with the fix in the message. Each section is checked by the
    check beside its dataclass; torch-free, so validating a config imports no model or data code.
    Model names are checked against the registry by :func:`resolve`."""
    check_data_config(cfg.data)
    check_model_config(cfg.model)
    check_optim_config(cfg.optim)
    check_train_config(cfg.train)
    check_sweep_config(cfg.sweep)
    for key, seeds in (
        ("train.seed", (cfg.train.seed,)),
        ("data.split_seed", (cfg.data.split_seed,)),
        ("seeds", cfg.seeds),
        ("sweep.seeds", cfg.sweep.seeds),
        ("grid.seeds", cfg.grid.seeds),
    ):
        check_seeds(seeds, key)


def check_sweep_config(cfg: SweepConfig) -> None:
    """Depths 6n+2, families plain and/or resnet, at least one seed."""
    bad_depths = [d for d in cfg.depths if d < 8 or (d - 2) % 6 or d > MAX_DEPTH]
    if bad_depths:
        raise UserError(
            f"sweep depths must be 6n+2 between 8 and {MAX_DEPTH} (20, 32, 44, 56, 110, ...), "
            f"got {bad_depths}"
        )
    bad_families = [f for f in cfg.families if f not in ("plain", "resnet")]
    if bad_families or not cfg.families or not cfg.seeds:
        raise UserError(
            f"sweep families must be plain and/or resnet and seeds non-empty, got "
            f"{list(cfg.families)} / {list(cfg.seeds)}"
        )
