"""Runs that survive: resume after SIGKILL, Ctrl-C/SIGTERM exit codes, divergence recorded."""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import smoke_compare
from resnet_lab.cli import main


def compare_cmd(out: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "resnet_lab.cli",
        "compare",
        "--preset",
        "smoke",
        "--out",
        str(out),
        "--epochs",
        "4",
        "--no-tensorboard",
        "--diag-every",
        "5",  # records within every epoch, so that a resume could repeat some
        "--models",
        "simple_cnn,resnet_seed",
        *extra,
    ]


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while not path.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    assert path.exists(), f"{path} never appeared"


def rows(out: Path) -> dict:
    return {r["model"]: r for r in json.loads((out / "results.json").read_text())["results"]}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ref") / "run"
    assert (
        subprocess.run(compare_cmd(out), check=False, capture_output=True, timeout=600).returncode
        == 0
    )
    return out


def _metrics(path: Path) -> list[dict]:
    return [
        {k: v for k, v in json.loads(l).items() if k != "seconds"}
        for l in path.read_text().splitlines()
    ]


def test_sigkill_mid_run_then_resume_gives_identical_metrics(reference, tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen(compare_cmd(out), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for(out / "resnet_seed" / "checkpoints" / "last.pt", proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "results.json").exists()  # nothing claims success
    again = subprocess.run(
        [sys.executable, "-m", "resnet_lab.cli", "compare", "--resume", str(out)],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert again.returncode == 0, again.stderr
    assert "simple_cnn: finished earlier, skipped" in again.stdout
    ref, got = rows(reference), rows(out)
    for model in ref:
        for key in ("best_val_acc", "final_train_loss", "test_acc", "steps", "verdict_init"):
            assert got[model][key] == ref[model][key], (model, key)
        assert _metrics(out / model / "metrics.jsonl") == _metrics(
            reference / model / "metrics.jsonl"
        )
        # The training-loss trace (kept in the checkpoints) continues where it was, not again.
        trace = lambda p: json.loads(p.read_text())["trace"]
        assert trace(out / model / "loss_trace.json") == trace(
            reference / model / "loss_trace.json"
        )
        assert trace(out / model / "loss_trace.json")
        # The diagnostics of steps after the last checkpoint are recorded once, not again on resume.
        steps = lambda p: [
            (r["phase"], r["step"]) for r in map(json.loads, p.read_text().splitlines())
        ]
        assert steps(out / model / "diagnostics.jsonl") == steps(
            reference / model / "diagnostics.jsonl"
        )


@pytest.mark.parametrize(
    "sig,code",
    [
        (signal.SIGINT, 130),
        # The same path with another signal: in the slow suite, to keep the default one under
        # 10 minutes on 2 cores (18 s here).
        pytest.param(signal.SIGTERM, 143, marks=pytest.mark.slow),
    ],
)
def test_interrupt_exits_with_the_conventional_code_and_says_how_to_resume(tmp_path, sig, code):
    out = tmp_path / "my run"  # a space: the printed resume command must still work when pasted
    # A handler here becomes the default in the child (exec resets handlers, but keeps an ignored
    # signal ignored, as it is when the suite runs in a non-interactive shell's background, e.g.
    # `bash .ci/run &`: the child then ignored SIGINT and finished with exit 0). As test_grid does.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(
            compare_cmd(out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    wait_for(out / "simple_cnn" / "checkpoints" / "last.pt", proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code
    assert err.splitlines()[0].startswith("resnet-lab: interrupted; ")  # no empty line before it
    hint = err.split("Resume with: ")[1].splitlines()[0]
    assert (
        shlex.split(hint) == ["resnet-lab", "compare", "--resume", str(out)]
        and "Traceback" not in err
    )
    done = subprocess.run(
        [sys.executable, "-m", "resnet_lab.cli", "compare", "--resume", str(out)],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert set(rows(out)) == {"simple_cnn", "resnet_seed"}


def test_a_diverging_model_is_recorded_and_the_comparison_completes(tmp_path, capsys):
    out = tmp_path / "run"
    assert (
        smoke_compare(
            out,
            "--lr",
            "1e5",
            "--init",
            "kaiming",
            "--models",
            "simple_cnn,resnet_seed",
            "--no-tensorboard",
        )
        == 0
    )
    results = rows(out)
    assert all(r["status"] == "failed" and "diverged" in r["problem"] for r in results.values())
    run = json.loads((out / "simple_cnn" / "run.json").read_text())
    # The last finite weights are kept, and with them the forward pass already overflows.
    assert run["status"] == "diverged" and run["results"]["verdict_final"] == "non-finite output"
    assert (out / "simple_cnn" / "checkpoints" / "epoch0000.pt").is_file()
    assert "diverged" in (out / "report.md").read_text()


def test_resume_refuses_other_flags_and_non_runs(tmp_path, capsys):
    assert main(["compare", "--resume", str(tmp_path), "--epochs", "3"]) == 2
    assert "drop the other flags" in capsys.readouterr().err
    assert main(["compare", "--resume", str(tmp_path)]) == 2
    assert "is not a resnet-lab compare directory" in capsys.readouterr().err
