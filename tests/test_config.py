"""One precedence: defaults < preset < file < command line; clear errors for bad values."""

from __future__ import annotations

import pytest
import yaml

from resnet_lab.config import PRESETS, ExperimentConfig, known_keys, resolve, to_dict
from resnet_lab.errors import UserError


def test_defaults_are_the_seed_settings():
    cfg = ExperimentConfig()
    assert (cfg.optim.lr, cfg.optim.weight_decay, cfg.train.epochs) == (0.01, 0.0, 20)
    # Model options are unset: each model's own default applies (test_models: a name means that model).
    assert (cfg.model.norm, cfg.model.init, cfg.model.shortcut) == (None, None, None)
    assert cfg.models == ("simple_cnn", "deep_cnn", "resnet_seed", "resnet_seed_plain")


def test_precedence_defaults_preset_file_cli(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text(
        yaml.safe_dump({"train": {"epochs": 3, "batch_size": 32}, "optim": {"lr": "1e-3"}})
    )
    cfg = resolve("quick", f, {"train.epochs": 5})
    assert cfg.train.epochs == 5  # cli beats file
    assert cfg.train.batch_size == 32  # file beats default
    assert cfg.optim.lr == pytest.approx(1e-3)  # YAML's '1e-3' string coerced to float
    assert cfg.model.width_mult == PRESETS["quick"]["model.width_mult"]  # preset beats default
    assert cfg.optim.momentum == 0.9  # default survives


def test_preset_named_in_file_and_models_as_comma_list(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("preset: smoke\nmodels: deep_cnn,resnet_seed\n")
    cfg = resolve(None, f, {})
    assert cfg.preset == "smoke" and cfg.data.dataset == "synthetic"
    assert cfg.models == ("deep_cnn", "resnet_seed")


def test_resolved_config_round_trips_through_yaml():
    cfg = resolve("smoke", None, {"optim.name": "adam"})
    again = resolve("smoke", None, {k: v for k, v in _flat(to_dict(cfg)).items() if k != "preset"})
    assert again == cfg


def _flat(d, prefix=""):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


@pytest.mark.parametrize(
    "overrides,match",
    [
        ({"train.epochs": 0}, "epochs must be a positive"),
        ({"train.batch_size": -1}, "batch size must be a positive"),
        ({"optim.lr": 0}, "learning rate must be a positive"),
        ({"model.width_mult": 0}, "width must be a positive"),
        ({"optim.name": "rmsprop"}, "unknown optimizer 'rmsprop'"),
        ({"data.dataset": "mnist"}, "unknown dataset 'mnist'"),
        ({"models": ["vgg"]}, "unknown model 'vgg'"),
        ({"train.device": "tpu"}, "unknown device 'tpu'"),
        ({"model.init": "zeros"}, "unknown init 'zeros'"),
        ({"train.epochs": "many"}, "train.epochs must be int"),
        ({"train.nope": 1}, "unknown config key 'train.nope'"),
    ],
)
def test_bad_values_are_user_errors(overrides, match):
    with pytest.raises(UserError, match=match):
        resolve("smoke", None, overrides)


def test_unknown_preset_invalid_yaml_and_missing_file(tmp_path):
    with pytest.raises(UserError, match="unknown preset 'fast'"):
        resolve("fast")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: {epochs: [1,\n")
    with pytest.raises(UserError, match="not valid YAML"):
        resolve(None, bad)
    with pytest.raises(UserError, match="cannot read config file"):
        resolve(None, tmp_path / "missing.yaml")
    lst = tmp_path / "list.yaml"
    lst.write_text("- 1\n- 2\n")
    with pytest.raises(UserError, match="must hold a mapping"):
        resolve(None, lst)


def test_every_key_is_documented_in_known_keys():
    assert (
        "optim.lr" in known_keys() and "data.val_size" in known_keys() and "models" in known_keys()
    )


def test_configs_saved_by_older_versions_load_with_todays_defaults():
    from resnet_lab.config import from_dict

    old = to_dict(resolve("quick"))
    del old["optim"]["milestones"], old["sweep"]  # keys that did not exist in the first release
    cfg = from_dict(old)
    assert cfg.optim.milestones == () and cfg.sweep.depths == (20, 32, 44, 56)
    assert cfg.model.width_mult == 0.25
    old["train"]["shiny_new_thing"] = 1
    with pytest.raises(UserError, match="unknown config key 'train.shiny_new_thing'"):
        from_dict(old)


def _python(code: str) -> str:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_validating_a_config_imports_no_torch():
    """Each section's dataclass and checks live beside its owner in a torch-free module
    (data/settings.py, models/settings.py, train_settings.py): resolving and validating settings
    loads neither torch nor any model or data code."""
    out = _python(
        "import sys\n"
        "from resnet_lab.config import ExperimentConfig, apply_overrides, validate\n"
        "validate(apply_overrides(ExperimentConfig(), {'optim.lr': 0.1, 'data.dataset': 'synthetic'}, 't'))\n"
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('resnet_lab.')))\n"
    )
    loaded = eval(out)  # a printed list of module names
    assert "torch" not in loaded
    assert not [
        m
        for m in loaded
        if m.split(".")[-1]
        not in ("config", "data", "settings", "errors", "fields", "models", "train_settings")
    ]


def test_every_module_imports_on_its_own():
    """No import circle: each module of the package imports first, in a fresh package state
    (torch stays loaded between them, so this takes seconds, not a process per module)."""
    out = _python(
        "import importlib, pkgutil, sys\n"
        "import resnet_lab\n"
        "names = [m.name for m in pkgutil.walk_packages(resnet_lab.__path__, 'resnet_lab.')]\n"
        "failed = []\n"
        "for name in names:\n"
        "    for m in [m for m in sys.modules if m.startswith('resnet_lab')]:\n"
        "        del sys.modules[m]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as exc:\n"
        "        failed.append(f'{name}: {exc!r}')\n"
        "print(len(names)); print('\\n'.join(failed))\n"
    )
    count, *failed = out.strip().split("\n")
    assert int(count) > 50 and not failed, failed
