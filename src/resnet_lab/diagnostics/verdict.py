"""Verdicts by explicit rules with named thresholds (documented in docs/diagnostics.md).

Rules are checked in this order on one probe (a forward + backward on a fixed batch); the first
that fires is the verdict:

1. **exploding gradients**: the loss or any layer's gradient norm is not finite, or some layer's
   weight-gradient norm exceeds ``EXPLODING_GRAD_NORM``.
2. **vanishing gradients**: the first layer's weight-gradient norm is below ``VANISHING_RATIO``
   times the largest of the last two layers' (two orders of magnitude or more).
3. **dead units**: in some layer at least ``DEAD_FRACTION`` of the channels never respond
   positively on the batch, so the ReLU after them passes no signal and no gradient.
4. **healthy** otherwise.

Evidence sentences are built from the numbers; a loss within ``LOSS_PINNED_TOLERANCE`` of ln C is
added as evidence (the output is uninformative: softmax nearly uniform).

The findings about a trained run compare it with its initial checkpoint: **weights effectively
unchanged** when every layer's relative weight change is below ``WEIGHTS_UNCHANGED_REL`` *and* the
predictions on a fixed test batch moved less than ``PREDICTIONS_UNCHANGED_TV`` (mean total-variation
distance between the softmax outputs before and after).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..models.paths import is_shortcut_label
from .stats import LayerStats, Verdict, finite, first_to_last_ratio

VANISHING_RATIO = 1e-2
EXPLODING_GRAD_NORM = 1e3
DEAD_FRACTION = 0.5
LOSS_PINNED_TOLERANCE = 0.01
WEIGHTS_UNCHANGED_REL = 0.05
PREDICTIONS_UNCHANGED_TV = 0.05


def _fmt(x: float) -> str:
    return f"{x:.2g}" if finite(x) else str(x)


def gradient_verdict(layers: Sequence[LayerStats], loss: float, num_classes: int) -> Verdict:
    """{"verdict", "evidence": [sentences], "first_to_last": ratio} for one probe."""
    ratio = first_to_last_ratio(layers)
    main = [l for l in layers if not is_shortcut_label(l["name"])]
    first = main[0] if main else None
    late = main[-2:]
    top = (
        max(late, key=lambda l: l["grad_norm"] if finite(l["grad_norm"]) else math.inf)
        if late
        else None
    )
    evidence: list[str] = []
    ln_c = math.log(num_classes)
    if finite(loss) and abs(loss - ln_c) <= LOSS_PINNED_TOLERANCE:
        evidence.append(
            f"loss {loss:.4f} is at ln {num_classes} = {ln_c:.4f}: the output is uninformative"
        )

    grads = [l["grad_norm"] for l in layers]
    if not finite(loss) or any(not finite(g) for g in grads):
        bad = [l["name"] for l in layers if not finite(l["grad_norm"])]
        evidence.insert(
            0,
            f"non-finite loss ({_fmt(loss)})"
            if not finite(loss)
            else f"non-finite gradient norm in {', '.join(bad)}",
        )
        return {"verdict": "exploding gradients", "evidence": evidence, "first_to_last": ratio}
    biggest = max(layers, key=lambda l: l["grad_norm"])
    if biggest["grad_norm"] > EXPLODING_GRAD_NORM:
        evidence.insert(
            0,
            f"{biggest['name']} gradient norm {_fmt(biggest['grad_norm'])} exceeds "
            f"{EXPLODING_GRAD_NORM:g}",
        )
        return {"verdict": "exploding gradients", "evidence": evidence, "first_to_last": ratio}
    if finite(ratio) and ratio < VANISHING_RATIO:
        evidence.insert(
            0,
            f"{first['name']} gradient norm {_fmt(first['grad_norm'])} is {_fmt(ratio)} x "
            f"{top['name']}'s {_fmt(top['grad_norm'])} (threshold {VANISHING_RATIO:g})",
        )
        stds = [l["act_std"] for l in main]
        if len(stds) > 2 and stds[-2] < stds[0]:
            evidence.append(
                f"response std falls from {_fmt(stds[0])} ({first['name']}) to "
                f"{_fmt(stds[-2])} ({late[0]['name']})"
            )
        return {"verdict": "vanishing gradients", "evidence": evidence, "first_to_last": ratio}
    dead = max(layers, key=lambda l: l["dead_frac"])
    if dead["dead_frac"] >= DEAD_FRACTION:
        evidence.insert(
            0,
            f"{dead['dead_frac']:.0%} of {dead['name']}'s channels never respond "
            f"positively (threshold {DEAD_FRACTION:.0%})",
        )
        return {"verdict": "dead units", "evidence": evidence, "first_to_last": ratio}
    evidence.insert(
        0,
        f"gradient norms {_fmt(min(grads))}-{_fmt(max(grads))} in every layer; "
        f"{first['name']}/{top['name']} ratio {_fmt(ratio)}",
    )
    return {"verdict": "healthy", "evidence": evidence, "first_to_last": ratio}


def change_finding(
    weight_changes: Sequence[dict[str, Any]], prediction_shift: float
) -> dict[str, Any]:
    """Did training move the weights and the predictions? ("effectively unchanged" or "changed")."""
    biggest = max(
        weight_changes, key=lambda w: w["rel_change"] if finite(w["rel_change"]) else math.inf
    )
    unchanged = (
        finite(biggest["rel_change"])
        and biggest["rel_change"] < WEIGHTS_UNCHANGED_REL
        and prediction_shift < PREDICTIONS_UNCHANGED_TV
    )
    text = (
        f"largest relative weight change {biggest['rel_change']:.2g} ({biggest['name']}), "
        f"prediction shift {prediction_shift:.3f} (mean total variation of the softmax)"
    )
    if unchanged:
        return {
            "finding": "weights effectively unchanged",
            "text": f"weights and predictions effectively unchanged by training: {text}",
        }
    return {
        "finding": "weights changed",
        "text": f"training changed the weights and predictions: {text}",
    }
