"""Data-parallel training under torchrun, on CPU with Gloo: two processes train like one.

Each test starts ``python -m torch.distributed.run --standalone --nproc-per-node 2`` on the smoke
data (torchrun gives every process one thread). Tolerance of "the same metrics": two processes
average the two halves' mean gradients where one process takes the mean of the whole batch, the
same number up to floating-point rounding in a different summation order (~1e-7 relative per
step); over the 32 SGD steps of these runs that stays below 1e-4 in every loss, and every accuracy
agrees to 0.5 percentage points (one or two of the 200 validation images near a decision
boundary). simple_cnn has no BatchNorm, whose per-process batch statistics would be a real
difference (``--sync-bn`` on GPUs).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import smoke_compare

ARGS = ["--models", "simple_cnn", "--no-tensorboard", "--epochs", "2", "--diag-every", "5"]


def torchrun(*args: str, nproc: int = 2, **kw) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        str(nproc),
        "-m",
        "resnet_lab.cli",
        *args,
    ]
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, **kw
    )


def finish(proc: subprocess.Popen, timeout: float = 300) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def history(run: Path) -> list[dict]:
    return [json.loads(l) for l in (run / "simple_cnn" / "metrics.jsonl").read_text().splitlines()]


def close(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b)
    for ea, eb in zip(a, b):
        for split in ("train", "val"):
            assert abs(ea[split]["loss"] - eb[split]["loss"]) < 1e-4 * max(1, eb[split]["loss"])
            assert abs(ea[split]["acc"] - eb[split]["acc"]) <= 0.5


@pytest.fixture(scope="module")
def one_process(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("one") / "run"
    assert smoke_compare(out, *ARGS) == 0
    return out


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("two") / "run"
    code, stdout, err = finish(torchrun("compare", "--preset", "smoke", "--out", str(out), *ARGS))
    assert code == 0, err
    return out, stdout


def test_two_processes_train_like_one_with_the_same_global_batch(one_process, two_processes):
    out, _ = two_processes
    close(history(out), history(one_process))
    a = json.loads((out / "results.json").read_text())["results"][0]
    b = json.loads((one_process / "results.json").read_text())["results"][0]
    assert a["steps"] == b["steps"] and abs(a["test_acc"] - b["test_acc"]) <= 0.5


def test_only_rank_zero_prints_and_writes(two_processes):
    out, stdout = two_processes
    assert stdout.count("[Epoch 01]") == 1 and stdout.count("[Epoch 02]") == 1
    assert stdout.count("report:") == 1
    names = sorted(p.name for p in out.iterdir())
    assert "results.json" in names and "report.html" in names
    assert len(history(out)) == 2  # one writer: no line twice
    records = [
        (r["phase"], r["step"])
        for r in map(
            json.loads, (out / "simple_cnn" / "diagnostics.jsonl").read_text().splitlines()
        )
    ]
    assert len(records) == len(set(records)) and ("init", 0) in records  # each probe once


@pytest.mark.slow
def test_a_killed_two_process_run_resumes_to_the_uninterrupted_numbers(two_processes, tmp_path):
    ref, _ = two_processes
    out = tmp_path / "run"
    proc = torchrun(
        "compare", "--preset", "smoke", "--out", str(out), *ARGS, start_new_session=True
    )
    last = out / "simple_cnn" / "checkpoints" / "last.pt"
    deadline = time.time() + 300
    while not last.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the launcher and both workers, no chance to clean up
    proc.wait()
    assert not (out / "results.json").exists()
    code, _, err = finish(torchrun("compare", "--resume", str(out)))
    assert code == 0, err
    close(history(out), history(ref))


def test_a_global_batch_that_does_not_split_is_refused_with_the_nearest_sizes(tmp_path):
    code, _, err = finish(
        torchrun("compare", "--preset", "smoke", "--batch-size", "63", "--out", str(tmp_path / "r"))
    )
    assert code != 0
    ours = [l for l in err.splitlines() if l.startswith("resnet-lab: error:")]
    assert len(ours) == 1 and "use 62 or 64" in ours[0], err  # err: what torchrun said instead
    assert "Traceback" not in err.split("resnet-lab: error:")[0]
    assert not (tmp_path / "r").exists()


def test_a_rank_that_fails_stops_the_run_with_its_error_once(tmp_path):
    factory = tmp_path / "flaky.py"
    factory.write_text(
        "import os\n"
        "from resnet_lab.registry import create_model\n"
        "def make(**options):\n"
        "    if os.environ.get('RANK') == '1':\n"
        "        raise RuntimeError('rank one cannot build this')\n"
        "    return create_model('simple_cnn', **options)\n"
    )
    code, _, err = finish(
        torchrun(
            "compare",
            "--preset",
            "smoke",
            "--models",
            f"{factory}:make",
            "--out",
            str(tmp_path / "r"),
        )
    )
    assert code != 0
    assert err.count("rank one cannot build this") == 1
    assert "[rank 1] resnet-lab: error:" in err


def test_a_grid_under_torchrun_trains_each_cell_data_parallel_like_one_process(tmp_path):
    """Every cell in turn on both processes; rank 0 alone writes grid.json. No BatchNorm (--norm
    none), whose per-process statistics would differ from one process's."""
    args = ["grid", "--preset", "grid-smoke", "--norm", "none", "--epochs", "1"]
    code, stdout, err = finish(torchrun(*args, "--out", str(tmp_path / "two")))
    assert code == 0, err
    from resnet_lab.cli import main

    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    rows = lambda d: json.loads((tmp_path / d / "grid.json").read_text())["runs"]
    two, one = rows("two"), rows("one")
    assert [r["run"] for r in two] == [r["run"] for r in one]
    for a, b in zip(two, one):
        assert abs(a["best_val_acc"] - b["best_val_acc"]) <= 0.5 and a["steps"] == b["steps"]
    assert stdout.count("grid: 2 run(s) in") == 1 and stdout.count("[Epoch 01]") == 2


def test_a_rank_that_cannot_reach_the_rendezvous_says_so_in_one_line(tmp_path):
    """Rank 1 of 2 with nobody listening at the address: after RESNET_LAB_DIST_TIMEOUT seconds, one
    line of ours (torch's C++ layer also logs its socket errors; those are not ours to silence)."""
    env = {
        **os.environ,
        "RANK": "1",
        "WORLD_SIZE": "2",
        "LOCAL_RANK": "1",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": "29581",
        "RESNET_LAB_DIST_TIMEOUT": "3",
        "OMP_NUM_THREADS": "1",
    }
    cli = [sys.executable, "-m", "resnet_lab.cli", *["compare", "--preset", "smoke", "--out"]]
    proc = subprocess.run(
        [*cli, str(tmp_path / "r")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    ours = [l for l in proc.stderr.splitlines() if "resnet-lab: error:" in l]
    assert proc.returncode == 2 and len(ours) == 1
    assert "cannot join the torchrun process group" in ours[0] and "Traceback" not in proc.stderr
    assert not (tmp_path / "r").exists()


def test_an_uneven_last_batch_still_trains_like_one_process(tmp_path):
    """999 training images in batches of 64: the last batch of 39 splits 20 + 19. Each rank's
    summed loss scaled by ranks / global batch keeps DDP's average the global batch's gradient."""
    args = [*ARGS, "--epochs", "1", "--train-subset", "999"]
    code, _, err = finish(
        torchrun("compare", "--preset", "smoke", "--out", str(tmp_path / "two"), *args)
    )
    assert code == 0, err
    assert smoke_compare(tmp_path / "one", *args) == 0
    close(history(tmp_path / "two"), history(tmp_path / "one"))
    # 961 = 15 x 64 + 1: the last batch cannot give each process an image.
    code, _, err = finish(
        torchrun(
            "compare",
            "--preset",
            "smoke",
            "--out",
            str(tmp_path / "bad"),
            *ARGS,
            "--train-subset",
            "961",
        )
    )
    ours = [l for l in err.splitlines() if "resnet-lab: error:" in l]
    assert code != 0 and len(ours) == 1 and "cannot give each of 2 processes" in ours[0]
    assert not (tmp_path / "bad").exists()


def _rank_zero_pid(launcher: int) -> int | None:
    """The pid of the worker with RANK=0 among the launcher's children."""
    for child in Path(f"/proc/{launcher}/task/{launcher}/children").read_text().split():
        env = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
        if b"RANK=0" in env:
            return int(child)
    return None


@pytest.mark.slow
def test_rank_zero_killed_leaves_the_other_rank_one_line_and_a_resumable_run(tmp_path):
    """SIGKILL to rank 0 mid-training: rank 1's collective fails (Gloo: "Connection reset by peer");
    it says so in one line with the resume command instead of Gloo's traceback. (torchrun's own
    summary of the failed job follows; that is the launcher's, not resnet-lab's.)"""
    out = tmp_path / "run"
    proc = torchrun("compare", "--preset", "smoke", "--out", str(out), *ARGS, "--epochs", "20")
    last = out / "simple_cnn" / "checkpoints" / "last.pt"
    deadline = time.time() + 300
    while not last.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(_rank_zero_pid(proc.pid), signal.SIGKILL)
    code, _, err = finish(proc)
    assert code != 0
    ours = [l for l in err.splitlines() if "resnet-lab:" in l]
    assert len(ours) == 1 and ours[0].startswith("[rank 1] resnet-lab: error: another process"), err
    assert f"compare --resume {out}" in ours[0]
    assert "[rank1]" not in err  # no line of rank 1's traceback
    code, _, err = finish(torchrun("compare", "--resume", str(out)))
    assert code == 0, err


def test_only_a_collective_losing_a_peer_is_called_a_lost_process(monkeypatch):
    from resnet_lab import distributed

    monkeypatch.setattr(distributed, "_PLACE", distributed.Place(1, 2, 1))
    gloo = RuntimeError(
        "[/__w/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:545] Read error "
        "[127.0.0.1]:62651: Connection reset by peer. This is typically caused by a remote worker"
    )
    assert distributed.lost_peer(gloo) == (
        "another process of this torchrun job is gone "
        "(Read error [127.0.0.1]:62651: Connection reset by peer)"
    )
    assert distributed.lost_peer(RuntimeError("mat1 and mat2 shapes cannot be multiplied")) is None
    monkeypatch.setattr(distributed, "_PLACE", distributed.Place())
    assert distributed.lost_peer(gloo) is None  # one process: no peers to lose
