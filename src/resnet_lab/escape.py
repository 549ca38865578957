"""When a run leaves the ln C plateau: the training loss every few steps, and the escape step.

A net that predicts every class with equal probability has cross-entropy ln C (2.3026 for
CIFAR-10): the seed's DeepCNN sat there for 20 epochs. Whether a run leaves that plateau, and
*when*, is the quantity that separates recipes (issue 28): final accuracies only say that it left.

The escape step is the first recorded step after which the running mean of the training loss
stays below ``ln C - ESCAPE_DELTA`` until the end of the run. A run whose running mean is not below
the line at its last record never left: it is *censored* at its last step (``escape_step`` None),
not given a number, and survival curves treat it so (``reporting/survival.py``). The trace is
recorded by ``train.LossTrace``; this module is the rule alone (no torch), for the reports too.

| setting | value | why |
|---|---|---|
| ``TRACE_EVERY`` | 10 steps | the batch loss is read every 10 optimiser steps: 35 reads per epoch of CIFAR-10 at batch 128, a ``.item()`` each (negligible next to a step) |
| ``ESCAPE_WINDOW`` | 10 reads (100 steps) | the running mean over 12,800 images. Measured on the seed's full-width DeepCNN at the plateau (steps 200-1,000, bf16, seed 0): batch loss 2.3032 +- 0.0015 (std), every 100-step mean within 2.3021-2.3052 |
| ``ESCAPE_DELTA`` | 0.05 nats | about 19x the largest deviation of that mean from ln 10 (+0.0026), so a plateau does not cross the line by chance, and small enough that a net in its first descent crosses it at once (the same run: batch loss 2.281 at step 1,360, 1.990 at step 1,400; escape step 1,390) |

"Stays below until the end" is what makes a brief dip that comes back not an escape.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

TRACE_EVERY = 10
ESCAPE_WINDOW = 10
ESCAPE_DELTA = 0.05
TRACE_KEY = "loss_trace"  # in TrainState.callback_state, so that checkpoints carry the trace


def running_means(losses: Sequence[float], window: int = ESCAPE_WINDOW) -> list[float]:
    """Mean of each full window of ``window`` consecutive values (the first ends at index
    window-1); a window holding a non-finite value has a non-finite mean."""
    return [sum(losses[i - window : i]) / window for i in range(window, len(losses) + 1)]


def escape_step(
    trace: Sequence[Sequence[float]],
    num_classes: int,
    *,
    delta: float = ESCAPE_DELTA,
    window: int = ESCAPE_WINDOW,
) -> int | None:
    """The step of the first record from which on the running mean stays below ``ln C - delta``
    to the end of ``trace`` (``[step, loss]`` pairs, oldest first); None when it is not below at
    the last record (censored there) or the trace is shorter than one window."""
    if len(trace) < window:
        return None
    line = math.log(num_classes) - delta
    means = running_means([loss for _, loss in trace], window)
    first = None
    for i, m in enumerate(means):
        if m < line:  # NaN compares False: a diverged stretch is not below the line
            first = i if first is None else first
        else:
            first = None
    return None if first is None else int(trace[first + window - 1][0])
