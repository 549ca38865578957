"""resnet-lab: verify, on real data and with numbers, what residual connections do.

The public API (``resnet_lab.api``) is loaded on first use, so ``import resnet_lab`` stays cheap
and does nothing else: ``rl.diagnose``, ``rl.probe``, ``rl.compare``, ``rl.load_run``, ``rl.report``,
``rl.create_model``, ``rl.register_model``, ``rl.list_models`` and ``rl.data`` (``rl.data.synthetic()``),
and the types ``rl.load_run`` and ``rl.compare`` return: ``rl.Run``, ``rl.ModelRun`` and
``rl.ModelSummary`` (``resnet_lab.run_view``).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"
__all__ = [
    "ModelRun",
    "ModelSummary",
    "Run",
    "compare",
    "create_model",
    "data",
    "diagnose",
    "grid",
    "list_models",
    "load_run",
    "probe",
    "register_model",
    "report",
]

# name -> the submodule it comes from (no submodule is called like an API name, so the two cannot clash)
_FROM = {
    "diagnose": "api",
    "probe": "api",
    "compare": "api",
    "grid": "api",
    "load_run": "api",
    "report": "api",
    "create_model": "registry",
    "register_model": "registry",
    "list_models": "registry",
    "Run": "run_view",
    "ModelRun": "run_view",
    "ModelSummary": "run_view",
}


def __getattr__(name: str) -> Any:
    if name == "data":
        return importlib.import_module(f"{__name__}.data")
    if name in _FROM:
        return getattr(importlib.import_module(f"{__name__}.{_FROM[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
