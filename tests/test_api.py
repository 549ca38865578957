"""The Python API: its doctested examples, and that it leaves the caller's model and settings alone."""

from __future__ import annotations

import doctest

import torch
from torch import nn

import resnet_lab as rl
from resnet_lab import api


def test_api_docstring_examples_run():
    result = doctest.testmod(api, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 5 and result.failed == 0


def _net():
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 10),
    )


def test_diagnose_any_module_before_and_after_without_touching_it():
    data = rl.data.synthetic(n_train=300, n_test=100)
    torch.manual_seed(0)
    before = _net()
    after = _net()
    after.eval()
    state = {k: v.clone() for k, v in after.state_dict().items()}
    threads = torch.get_num_threads()
    d = rl.diagnose(after, data, before=before.state_dict())
    assert set(d["probe"]) == {"init", "final"} and "finding" in d and d["model"] == "Sequential"
    assert all(
        torch.equal(state[k], v) for k, v in after.state_dict().items()
    )  # weights and BN buffers
    assert not after.training and all(p.grad is None for p in after.parameters())
    assert torch.get_num_threads() == threads
    assert rl.diagnose(after, data, before=before)["weight_change"] == d["weight_change"]


def test_the_package_imports_nothing_heavy_until_asked():
    import subprocess
    import sys

    code = "import sys, resnet_lab; print('torch' in sys.modules)"
    assert (
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.strip()
        == "False"
    )
    assert all(getattr(rl, name) is not None for name in rl.__all__)


def test_compare_from_python_with_a_factory_keeps_global_state():
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    threads = torch.get_num_threads()
    run = rl.compare(
        {
            "mine": lambda num_classes=10: _net()[:-1].append(nn.Linear(8, num_classes)),
            "seed_resnet": "resnet_seed",
        },
        {"preset": "smoke", "train.epochs": 1, "train.tensorboard": False},
        log=lambda s: None,
    )
    assert [m["name"] for m in run["models"]] == ["mine", "resnet_seed"] and run["dir"] is None
    assert all(len(m["history"]) == 1 for m in run["models"])
    assert (
        torch.equal(torch.rand(1), expected) and torch.get_num_threads() == threads
    )  # RNG and threads restored
    assert "mine" not in rl.list_models()  # registered for the call only


def test_grid_from_python_returns_the_cells():
    blob = rl.grid(
        {"model.depth": [8], "model.skip": [False, True]},
        {"preset": "grid-smoke", "train.epochs": 1},
        log=lambda s: None,
    )
    assert [s["cell"] for s in blob["summary"]] == ["depth8_skip-off", "depth8_skip-on"]
    assert all(r["outcome"] in ("learned", "failed") for r in blob["runs"])
