"""Verdicts by explicit rules with named thresholds (justified in docs/diagnostics.md).

The rules read the *signal* a probe (one forward + backward on a fixed batch) measures along the
main path's weight layers but the output layer (the "path"; projections are off it): the backward
signal ``back_signal`` (RMS over the batch of each example's ||dL/dh|| at a layer's response) and
the forward ReLU output std ``relu_std``. Each is fitted as exponential in depth (``depth_fit``):
a gain chi per layer and a depth scale xi = 1/|ln chi|. Both are free of the tensors' sizes: with
He et al.'s fan-in init the backward signal keeps its norm through convs, strides and poolings of
any width, so a healthy net has chi ~ 1 whatever its shape (raw weight-gradient norms do not: they
grow with the number of weights). Checked in this order; the first that fires is the verdict:

1. **non-finite output**: the loss itself is not finite, i.e. the forward pass already overflowed
   (or the model computes NaN): nothing about gradients can be read from it.
   **exploding gradients**: the loss is finite but a gradient is not.
2. **vanishing gradients**: no backward signal reaches some layer of the path (exactly 0; all of
   them with a zero-initialised output layer, as Fixup's, is healthy: that layer learns first), or the
   fitted backward signal shrinks toward the input by more than ``SIGNAL_CHANGE_LIMIT``;
   **exploding gradients** when it grows by more than that. ``SIGNAL_CHANGE_LIMIT`` = e^6 ~ 403
   is Schoenholz et al. 2017's trainability depth, L <~ 6 xi, written as the change it allows:
   e^(L/xi) <= e^6. The evidence adds the forward ReLU output std's fitted change.
3. **exploding gradients**: some layer's gradient is more than ``HUGE_GRAD_TO_WEIGHT`` times its
   weight (norms): one step at any usual learning rate would replace the weight.
4. **dead units**: at least ``DEAD_FRACTION`` of the channels of some ReLU's output are 0 on the
   whole batch (only ReLU outputs count: logits, projections and pre-addition convs have no units
   that can die).
5. **healthy** otherwise.

Not a verdict but a flag (``large_steps``): with the SGD learning rate given, layers whose steady
step exceeds ``STEP_BOUND`` (a step larger than the weight itself). The steady step is
lr / (1 - momentum) * ||dL/dW|| / ||W||: momentum accumulates a persistent gradient into steps
1/(1 - momentum) times the first one (issue 33: 0.01 * 88 = 0.88 for the first step of a He-init
net without BN, but 8.8 once momentum 0.9 has built up).
Evidence sentences are built from the numbers; a loss within ``LOSS_PINNED_TOLERANCE`` of ln C is
added as evidence (the output is uninformative: softmax nearly uniform), and so is a loss more than
``LOSS_HIGH_MARGIN`` nats above ln C (the logits start large: a forward-signal problem the backward
rules do not see, e.g. skips + He init without BN, whose first loss is about 16.9).

The findings about a trained run compare it with its initial checkpoint: **weights effectively
unchanged** when every layer's relative weight change is below ``WEIGHTS_UNCHANGED_REL`` *and* the
predictions on a fixed test batch moved less than ``PREDICTIONS_UNCHANGED_TV`` (mean total-variation
distance between the softmax outputs before and after).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..models.paths import is_shortcut_label
from .stats import DepthFit, LayerStats, Verdict, depth_fit, finite, first_to_last_ratio

SIGNAL_CHANGE_LIMIT = math.exp(6)
HUGE_GRAD_TO_WEIGHT = 1e3
DEAD_FRACTION = 0.5
STEP_BOUND = 1.0
LOSS_PINNED_TOLERANCE = 0.01
# Nats above ln C at which the initial loss is called high: softmax of logits with std s over 10
# classes starts near ln C + s^2/2, so 1 nat is a logit std of about 1.4, several times the
# 0.3-0.6 of the plain CIFAR nets at initialisation (docs/results/initial-scale.json).
LOSS_HIGH_MARGIN = 1.0
WEIGHTS_UNCHANGED_REL = 0.05
PREDICTIONS_UNCHANGED_TV = 0.05


def _fmt(x: float) -> str:
    return f"{x:.2g}" if finite(x) else str(x)


def signal_path(layers: Sequence[LayerStats]) -> list[LayerStats]:
    """The main path's weight layers without the output layer, in forward order."""
    return [l for l in layers if not is_shortcut_label(l["name"])][:-1]


def signal_fits(layers: Sequence[LayerStats]) -> tuple[DepthFit | None, DepthFit | None]:
    """(backward, forward): the backward signal per layer toward the input, the ReLU output std per
    layer toward the output (over the path's layers a ReLU follows)."""
    path = signal_path(layers)
    back = [l.get("back_signal") for l in reversed(path)]
    forward = [l["relu_std"] for l in path if l.get("relu_std") is not None]
    return (
        depth_fit(back) if None not in back else None,
        depth_fit(forward),
    )


def correlation_fit(layers: Sequence[LayerStats]) -> dict[str, Any] | None:
    """How different images' representations converge along the path: the input correlation c
    (stats.input_correlation) at the first and last layer of the path, and 1 - c fitted as
    exponential in depth toward the output (its gain per layer and depth scale: c -> 1 within a
    few depth scales means every image reaches the classifier as the same point; Schoenholz et al.
    2017's correlation depth scale, measured). Not a verdict rule: evidence beside it. None where
    the probe did not record c on every layer of the path, or the path has fewer than 3 layers."""
    corr = [l.get("input_corr") for l in signal_path(layers)]
    if not corr or None in corr:
        return None
    # 1 - c floored at float32's resolution, so that a layer where the images merged completely
    # (c = 1 to the last bit) counts as merged rather than dropping the fit.
    fit = depth_fit([max(1 - c, 1e-7) for c in corr])
    return None if fit is None else {"first": corr[0], "last": corr[-1], "one_minus": fit}


def zero_output_layer(layers: Sequence[LayerStats]) -> LayerStats | None:
    """The main path's output layer if its weights are all zero (zero-initialised, as Fixup's
    classifier): it learns first and passes no backward signal until then, which is no fault of
    the layers below."""
    head = [l for l in layers if not is_shortcut_label(l["name"])][-1:]
    return head[0] if head and head[0]["weight_norm"] == 0 else None


def _fit_text(fit: DepthFit) -> str:
    return f"gain {fit['gain']:.3g}/layer, depth scale {fit['depth_scale']:.3g} layers"


@dataclass(frozen=True)
class _Probe:
    """What the rules of :func:`gradient_verdict` look at."""

    layers: Sequence[LayerStats]
    loss: float
    path: list[LayerStats]  # the main path's layers, input to output
    back: dict[str, Any] | None  # the backward signal's fit
    forward: dict[str, Any] | None  # the forward (ReLU output std) fit


# A rule returns (verdict, reasons: the deciding one first) or None (not this verdict); the first
# rule that decides wins, and "healthy" is what is left.
Rule = Callable[[_Probe], "tuple[str, list[str]] | None"]


def _non_finite(p: _Probe) -> tuple[str, list[str]] | None:
    signals = [l.get("back_signal") for l in p.layers]
    if not finite(p.loss):
        reason = (
            f"non-finite loss ({_fmt(p.loss)}) on the probe batch: the forward pass is not finite"
        )
        return "non-finite output", [reason]
    bad = [l["name"] for l in p.layers if not finite(l["grad_norm"])]
    if bad or any(s is not None and not finite(s) for s in signals):
        return "exploding gradients", [
            f"non-finite gradient in {', '.join(bad) or 'the backward signal'}"
        ]
    return None


def _no_gradient(p: _Probe) -> tuple[str, list[str]] | None:
    silent = [l for l in p.path if l.get("back_signal") == 0]
    if silent and any((l.get("back_signal") or 0) > 0 for l in p.path):
        more = " ..." if len(silent) > 3 else ""
        names = ", ".join(l["name"] for l in silent[:3])
        return "vanishing gradients", [f"no gradient at all reaches {names}{more}"]
    if not (p.path and len(silent) == len(p.path)):
        return None
    if (head := zero_output_layer(p.layers)) is not None:
        return "healthy", [
            (
                f"no backward signal reaches the layers below {head['name']} yet: its weights are "
                "all zero (zero-initialised, as Fixup does), so the first step trains it alone"
            )
        ]
    return "vanishing gradients", ["no gradient at all reaches any layer below the output"]


def _signal_change(p: _Probe) -> tuple[str, list[str]] | None:
    back = p.back
    if back is None or 1 / SIGNAL_CHANGE_LIMIT <= back["change"] <= SIGNAL_CHANGE_LIMIT:
        return None
    span = f"over {back['layers']} layers from {p.path[-1]['name']} to {p.path[0]['name']}"
    kind = "shrinks" if back["change"] < 1 else "grows"
    reasons = [
        (
            f"the backward signal {kind} x{_fmt(back['change'])} toward the input {span} "
            f"({_fit_text(back)}; limit x{SIGNAL_CHANGE_LIMIT:.0f} either way = 6 depth scales)"
        )
    ]
    if p.forward is not None:
        reasons.append(
            f"forward, the ReLU output std changes x{_fmt(p.forward['change'])} from "
            f"{p.path[0]['name']} to the last ReLU ({_fit_text(p.forward)})"
        )
    return ("vanishing gradients" if back["change"] < 1 else "exploding gradients"), reasons


def _huge_gradient(p: _Probe) -> tuple[str, list[str]] | None:
    huge = max(p.layers, key=lambda l: l["grad_to_weight"] if finite(l["grad_to_weight"]) else 0)
    if finite(huge["grad_to_weight"]) and huge["grad_to_weight"] > HUGE_GRAD_TO_WEIGHT:
        return "exploding gradients", [
            (
                f"{huge['name']}'s gradient norm is {_fmt(huge['grad_to_weight'])} x its weight norm "
                f"(bound {HUGE_GRAD_TO_WEIGHT:g})"
            )
        ]
    return None


def _dead_units(p: _Probe) -> tuple[str, list[str]] | None:
    with_dead = [l for l in p.layers if l.get("dead_frac") is not None]
    dead = max(with_dead, key=lambda l: l["dead_frac"], default=None)
    if dead is not None and dead["dead_frac"] >= DEAD_FRACTION:
        return "dead units", [
            (
                f"{dead['dead_frac']:.0%} of the channels of the ReLU after {dead['name']} are 0 on the "
                f"whole batch (threshold {DEAD_FRACTION:.0%})"
            )
        ]
    return None


RULES: tuple[Rule, ...] = (_non_finite, _no_gradient, _signal_change, _huge_gradient, _dead_units)


def gradient_verdict(
    layers: Sequence[LayerStats],
    loss: float,
    num_classes: int,
    lr: float | None = None,
    momentum: float = 0.0,
) -> Verdict:
    """The verdict of one probe, its evidence and the fitted signals (``lr``, ``momentum``: SGD's,
    to flag large steps)."""
    ratio = first_to_last_ratio(layers)
    back, forward = signal_fits(layers)
    probe = _Probe(layers, loss, signal_path(layers), back, forward)
    out: Verdict = {
        "first_to_last": ratio,
        "backward": back,
        "forward": forward,
        "correlation": correlation_fit(layers),
        "large_steps": [],
    }
    evidence: list[str] = []
    if lr is not None:
        step = lr / (1 - momentum)
        big = [
            l
            for l in layers
            if finite(l["grad_to_weight"]) and step * l["grad_to_weight"] > STEP_BOUND
        ]
        out["large_steps"] = [l["name"] for l in big]
        if big:
            worst = max(big, key=lambda l: l["grad_to_weight"])
            evidence.append(
                f"SGD's steady step at lr {lr:g}, momentum {momentum:g} (lr/(1-momentum) = "
                f"{step:g}) would be {step * worst['grad_to_weight']:.2g} x {worst['name']}'s "
                f"weight norm (bound {STEP_BOUND:g}) in {len(big)} layer(s)"
            )
    ln_c = math.log(num_classes)
    if finite(loss) and abs(loss - ln_c) <= LOSS_PINNED_TOLERANCE:
        evidence.append(
            f"loss {loss:.4f} is at ln {num_classes} = {ln_c:.4f}: the output is uninformative"
        )
    elif finite(loss) and loss > ln_c + LOSS_HIGH_MARGIN:
        evidence.append(
            f"loss {loss:.3g} is {loss - ln_c:.3g} nats above ln {num_classes}: the logits start "
            "large (a forward-signal problem the backward rules do not measure)"
        )
    for rule in RULES:
        if (found := rule(probe)) is not None:
            verdict, reasons = found
            return {**out, "verdict": verdict, "evidence": [*reasons, *evidence]}
    if back is not None:
        reason = (
            f"backward signal x{_fmt(back['change'])} toward the input over {back['layers']} "
            f"layers (gain {back['gain']:.3g}/layer), within the x{SIGNAL_CHANGE_LIMIT:.0f} limit"
        )
    else:
        reason = f"too few layers to fit the signal; first/last gradient-norm ratio {_fmt(ratio)}"
    return {**out, "verdict": "healthy", "evidence": [reason, *evidence]}


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
