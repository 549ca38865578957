"""The Python API: its doctested examples, and that it leaves the caller's model and settings alone."""

from __future__ import annotations

import dataclasses
import doctest
import sys

import pytest
import torch
from torch import nn

import resnet_lab as rl
from resnet_lab import api
from resnet_lab.errors import UserError


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
    assert "prediction" not in d  # no optimiser given: nothing predicted


def test_diagnose_predicts_the_outcome_for_the_optimiser_it_is_given():
    data = rl.data.synthetic(n_train=300, n_test=100)
    torch.manual_seed(0)
    net = _net()
    sgd = rl.diagnose(net, data, lr=0.01, momentum=0.9)["prediction"]
    adam = rl.diagnose(net, data, optimizer="adam", lr=0.001)["prediction"]
    assert sgd["optimizer"] == "SGD lr 0.01 momentum 0.9" and adam["optimizer"] == "Adam lr 0.001"
    assert {sgd["outcome"], adam["outcome"]} <= {"trains", "stays at ln C", "diverges"}
    with pytest.raises(ValueError, match="needs its lr"):
        rl.diagnose(net, data, optimizer="adam")


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


def _mine(num_classes=10):
    return _net()[:-1].append(nn.Linear(8, num_classes))


SMOKE = {"preset": "smoke", "train.epochs": 1, "train.tensorboard": False}


@pytest.fixture(scope="module")
def smoke_compare(tmp_path_factory):
    """One tiny compare from Python, kept on disk: a factory next to a registered model, two seeds.
    Returns the Run, its directory and the global state before and after."""
    out = tmp_path_factory.mktemp("api") / "run"
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    threads = torch.get_num_threads()
    run = rl.compare(
        {"mine": _mine, "seed_resnet": "resnet_seed"},
        {**SMOKE, "seeds": [0, 1]},
        out=out,
        log=lambda s: None,
    )
    state = {
        "rng_kept": torch.equal(torch.rand(1), expected),
        "threads_kept": torch.get_num_threads() == threads,
    }
    return run, out, state


def test_compare_from_python_with_a_factory_keeps_global_state(smoke_compare):
    run, out, state = smoke_compare
    assert isinstance(run, rl.Run) and all(isinstance(m, rl.ModelRun) for m in run.models)
    assert [(m.name, m.seed) for m in run.models] == [
        ("mine", 0),
        ("mine", 1),
        ("resnet_seed", 0),
        ("resnet_seed", 1),
    ]
    assert run.dir == out and all(m.dir == out / m.run for m in run.models)
    assert all((m.dir / "checkpoints" / "final.pt").is_file() for m in run.models)
    assert all(len(m.history) == m.epochs == 1 for m in run.models)
    assert state == {"rng_kept": True, "threads_kept": True}  # RNG and threads restored
    assert "mine" not in rl.list_models()  # registered for the call only


def test_run_fields_are_what_results_json_holds(smoke_compare):
    import json

    run, out, _ = smoke_compare
    blob = json.loads((out / "results.json").read_text())
    assert run.config == blob["config"] and run.provenance == blob["provenance"]
    assert [m.row for m in run.models] == blob["results"]
    for m, row in zip(run.models, blob["results"]):
        assert (m.name, m.run, m.seed) == (row["model"], row["run"], row["seed"])
        for name in (
            "params", "status", "reason", "problem", "best_val_acc", "best_val_epoch",
            "final_val_acc", "test_acc", "test_loss", "final_train_loss", "final_train_acc",
            "epochs", "steps", "seconds", "diverged_at_step", "verdict_init", "verdict_final",
            "finding",
        ):  # fmt: skip
            assert getattr(m, name) == row[name], name
        assert m.optimizer == blob["config"]["optim"]["name"]
        metrics = (out / m.run / "metrics.jsonl").read_text().splitlines()
        assert list(m.history) == [json.loads(line) for line in metrics]
        assert m.diagnosis == json.loads((out / m.run / "diagnosis.json").read_text())
    assert len(run.summary) == 2
    for s, raw in zip(run.summary, blob["summary"]):
        assert (s.name, list(s.seeds), s.n, s.learned, s.params) == (
            raw["model"], raw["seeds"], raw["n"], raw["learned"], raw["params"],
        )  # fmt: skip
        for name in ("best_val_acc", "test_acc", "final_train_loss", "seconds"):
            assert list(getattr(s, name)) == raw[name], name
        assert s.test_acc.std is not None  # two seeds: a spread
    assert rl.load_run(out) == run  # reading the directory again gives the same Run


def test_run_to_frame_has_one_row_per_model_run(smoke_compare):
    pytest.importorskip("pandas", reason="to_frame needs pandas, which resnet-lab does not install")
    run, _, _ = smoke_compare
    frame = run.to_frame()
    assert len(frame) == len(run.models) == 4
    assert list(frame["run"]) == [m.run for m in run.models]
    assert list(frame["test_acc"]) == [m.test_acc for m in run.models]
    assert "history" not in frame.columns and "diagnosis" not in frame.columns


def test_run_to_frame_without_pandas_says_how_to_get_it(smoke_compare, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas -> ImportError
    with pytest.raises(UserError) as err:
        smoke_compare[0].to_frame()
    assert "pip install pandas" in str(err.value) and "\n" not in str(err.value)


def test_load_run_of_a_directory_that_is_not_a_run(tmp_path):
    (tmp_path / "notes.txt").write_text("not a run")
    with pytest.raises(UserError) as err:
        rl.load_run(tmp_path)
    message = str(err.value)
    assert "\n" not in message and "not a finished resnet-lab compare run" in message
    assert "--out directory" in message  # the fix


def test_report_takes_a_run_and_refuses_one_kept_nowhere(smoke_compare, tmp_path):
    run = smoke_compare[0]
    kept_nowhere = dataclasses.replace(run, dir=None)
    with pytest.raises(UserError, match="out=None"):
        rl.report([kept_nowhere])
    html, md = rl.report([run], out=tmp_path / "report")
    assert html == tmp_path / "report" / "report.html" and html.is_file() and md.is_file()


def test_compare_without_out_keeps_nothing_on_disk():
    run = rl.compare({"mine": _mine}, SMOKE, log=lambda s: None)
    assert run.dir is None and [m.dir for m in run.models] == [None]
    assert [m.name for m in run.models] == ["mine"] and len(run.models[0].history) == 1
    assert run.models[0].diagnosis is not None and run.summary[0].n == 1


def test_grid_from_python_returns_the_cells():
    blob = rl.grid(
        {"model.depth": [8], "model.skip": [False, True]},
        {"preset": "grid-smoke", "train.epochs": 1},
        log=lambda s: None,
    )
    assert [s["cell"] for s in blob["summary"]] == ["depth8_skip-off", "depth8_skip-on"]
    assert all(r["outcome"] in ("learned", "failed") for r in blob["runs"])
