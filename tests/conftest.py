"""Shared fixtures: everything on CPU, seeded, small."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
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


@pytest.fixture
def benchmark_script(monkeypatch):
    """``benchmark_script(NAME)``: benchmarks/NAME.py loaded as a module (the scripts are not a
    package). Their folder is on sys.path meanwhile, since some import a sibling (fc_init_pair takes
    budget_decision's rule); the siblings leave sys.modules afterwards, so no test sees another's."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))

    def load(name: str):
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    yield load
    for name, module in list(sys.modules.items()):
        if Path(getattr(module, "__file__", None) or "/").parent == BENCHMARKS:
            del sys.modules[name]


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
