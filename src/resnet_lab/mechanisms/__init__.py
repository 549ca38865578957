"""Why skip connections work, measured on trained runs: lesion study, shattered gradients, loss landscape.

Each analysis is one module with a pure function on any ``nn.Module`` and in-memory data
(:func:`~.lesion.lesion`, :func:`~.shatter.shatter`, :func:`~.landscape.landscape`), an adapter for
run directories (``measure``), and its report section (``figure``, ``sentences``); ``analyze.py``
runs one over run directories for ``resnet-lab analyze``. A new analysis is one module with those
names plus a line in ``ANALYSES``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import torch


@runtime_checkable
class Analysis(Protocol):
    """What an analysis module declares (lesion.py, shatter.py, landscape.py): the driver
    (analyze.py) and the report (reporting/analyses.py) use these names and nothing else."""

    TITLE: str  # the report section's heading
    DEFAULT_SUBSET: int  # validation images (or lines) when --subset is not given

    def prepare(self, run, x: torch.Tensor, y: torch.Tensor, opts, directions=None) -> int:
        """Check that ``run`` can be analysed (raise ValueError saying why not); the number of
        evaluations its measurement will take (the progress bar's length)."""

    def measure(
        self, run, x: torch.Tensor, y: torch.Tensor, opts, directions=None, *, bar, device
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The entry for ``run`` (JSON-able) and attachments to save beside it (name -> tensor)."""

    def sentences(self, entries: list[dict[str, Any]]) -> list[str]:
        """Conclusions computed from the entries (one per run), never written in advance."""

    def figure(self, entries: list[dict[str, Any]]):
        """The matplotlib figure of the entries."""


ANALYSES = {  # name -> module, in report order
    "lesion": "resnet_lab.mechanisms.lesion",
    "shatter": "resnet_lab.mechanisms.shatter",
    "landscape": "resnet_lab.mechanisms.landscape",
}


def analysis(name: str) -> Analysis:
    """The module of analysis ``name`` (imported on first use: nothing happens at import time),
    checked against the declared interface."""
    module = importlib.import_module(ANALYSES[name])
    if not isinstance(module, Analysis):
        declared = [
            *Analysis.__annotations__,
            *(n for n in vars(Analysis) if not n.startswith("_")),
        ]
        missing = [n for n in declared if not hasattr(module, n)]
        raise TypeError(
            f"analysis module {ANALYSES[name]} lacks {', '.join(missing)} (mechanisms.Analysis)"
        )
    return module
