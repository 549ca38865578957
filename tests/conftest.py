"""Shared fixtures: everything on CPU, seeded, small."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

SHARED_JPEG = (
    Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "cifar10-jpeg.tar.gz"
)


@pytest.fixture(autouse=True)
def _seeded(monkeypatch, tmp_path):
    torch.manual_seed(0)
    # Never touch the user's real cache from a test.
    monkeypatch.setenv("RESNET_LAB_CACHE", str(tmp_path / "cache"))
    yield


@pytest.fixture
def shared_jpeg() -> Path:
    if not SHARED_JPEG.is_file():
        pytest.skip(f"real CIFAR-10 copy not found at {SHARED_JPEG}")
    return SHARED_JPEG


def kill_when_written(cmd: list[str], path: Path, timeout: float = 300) -> None:
    """Start ``cmd`` and SIGKILL it as soon as ``path`` exists (a run interrupted mid-way)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + timeout
    while not path.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert path.exists(), f"{path} was never written before the kill"


def pytest_configure(config):
    os.environ.setdefault("MPLBACKEND", "Agg")


def smoke_compare(out: Path, *args: str) -> int:
    """``resnet-lab compare --preset smoke --out OUT ARGS`` in this process; its exit code."""
    from resnet_lab.cli import main

    return main(["compare", "--preset", "smoke", "--out", str(out), *args])
