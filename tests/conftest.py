"""Shared fixtures: everything on CPU, seeded, small."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

SHARED_JPEG = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "cifar10-jpeg.tar.gz"


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


def pytest_configure(config):
    os.environ.setdefault("MPLBACKEND", "Agg")
