"""Why skip connections work, measured on trained runs: lesion study, shattered gradients, loss landscape.

Each analysis is one module with a pure function on any ``nn.Module`` and in-memory data
(:func:`~.lesion.lesion`, :func:`~.shatter.shatter`, :func:`~.landscape.landscape`), an adapter for
run directories (``measure``), and its report section (``figure``, ``sentences``); ``driver.py``
runs one over run directories for ``resnet-lab analyze``. A new analysis is one module with those
names plus a line in ``ANALYSES``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

ANALYSES = {  # name -> module, in report order
    "lesion": "resnet_lab.mechanisms.lesion",
    "shatter": "resnet_lab.mechanisms.shatter",
    "landscape": "resnet_lab.mechanisms.landscape",
}


def analysis(name: str) -> ModuleType:
    """The module of analysis ``name`` (imported on first use: nothing happens at import time)."""
    return importlib.import_module(ANALYSES[name])
