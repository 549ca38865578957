"""A prediction, at initialisation, of what the configured optimiser will do with a net: it
``trains``, it ``stays at ln C`` (the loss does not leave the uniform prediction's ln C), or it
``diverges``. Each outcome is reached by a named rule; the first rule that fires decides, and
``trains`` is what is left. The descriptive verdict (verdict.py: vanishing / exploding signal,
dead units) stays beside it as evidence; this module answers a different question: not what the
signal looks like, but whether the optimiser can get out of it.

The rules, from theory (docs/diagnostics.md, "Predicted outcome"), fixed before any held-out
outcome was seen (issue 33: their hit rate is measured on the cells of a 3-seed trainability map
that did not shape them):

1. ``non-finite`` -> diverges: the loss or a gradient at initialisation is not finite.
2. ``step larger than the weight`` -> diverges: some layer's steady first step is larger than the
   layer's weight, so the first steps replace it rather than adjust it. The steady step of SGD
   with momentum beta is lr / (1 - beta) * ||dL/dW|| / ||W|| (momentum accumulates a persistent
   gradient); Adam's normalised step moves each weight by about lr whatever the gradient's size
   (Kingma & Ba 2015, section 2.1), i.e. lr / rms(W) relative to the weight. Layers followed by
   a normalisation (BatchNorm) are exempt: their output does not depend on the weight's scale, so
   a large step grows ||W|| and shrinks the next effective step by 1/||W||^2 (van Laarhoven 2017;
   Arora et al. 2019) rather than blowing up the output. Layers whose weight is zero (Fixup's
   classifier, a zero-initialised last conv) are exempt: they are meant to grow from 0.
3. ``inputs merged, no gradient to separate them`` -> stays at ln C, under SGD only: the
   representation reaching the classifier is the same for every image (the input correlation at
   the path's last layer is at least ``CORR_MERGED``), so the output can fit the class prior
   but nothing about the image, and the backward signal that would have to separate the images
   in the early layers shrinks toward the input by more than ``SIGNAL_CHANGE_LIMIT`` (verdict.py),
   so SGD's steps there are that much smaller than at the output. Adam is exempt: its step does
   not scale with the gradient's size (rule 2's reason), so a vanishing signal does not slow the
   early layers.

What none of them sees: a budget. "Stays at ln C" means "within a budget of the order of the
map's" (hundreds to a few thousand steps); a net the rule calls stuck may still leave later (the
full-width DeepCNN left after about 1,400 steps, docs/results.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from .stats import LayerStats, finite
from .verdict import SIGNAL_CHANGE_LIMIT, signal_fits, signal_path

TRAINS, STAYS, DIVERGES = "trains", "stays at ln C", "diverges"
Predicted = Literal["trains", "stays at ln C", "diverges"]

# Rule 2: a steady step larger than the weight itself (relative size 1) replaces the weight.
STEP_BOUND = 1.0
# Rule 3: 1 - c below 1e-3 means the part of the classifier's input that differs between two
# images is under sqrt(2e-3) ~ 4.5 % of its norm (for unit vectors, |a - b|^2 = 2(1 - c)).
CORR_MERGED = 0.999
# What diagnose says of the rules' measured hit rate, until the calibration on held-out runs
# (issue 33; docs/diagnostics.md) has been run: nothing is claimed that was not measured.
HIT_RATE_TEXT = "hit rate on held-out runs: not measured yet"


@dataclass(frozen=True)
class FirstSteps:
    """The optimiser's first steps, as far as the rules need them (train.first_steps)."""

    optimizer: Literal["sgd", "adam"]
    lr: float
    momentum: float = 0.0  # SGD's; Adam's beta1 does not change its step's size

    def relative_step(self, layer: LayerStats) -> float | None:
        """The steady step of ``layer``'s weight relative to the weight (None: not defined)."""
        if not layer.get("weight_norm") or not finite(layer.get("grad_to_weight", math.nan)):
            return None
        if self.optimizer == "sgd":
            return self.lr / (1 - self.momentum) * layer["grad_to_weight"]
        rms = layer.get("weight_rms")
        return self.lr / rms if rms else None

    def text(self) -> str:
        tail = f" momentum {self.momentum:g}" if self.optimizer == "sgd" else ""
        return (
            f"{self.optimizer.upper() if self.optimizer == 'sgd' else 'Adam'} lr {self.lr:g}{tail}"
        )


@dataclass(frozen=True)
class Probe:
    """What the rules read: one probe at initialisation (hooks.measure_layers) and the optimiser."""

    layers: Sequence[LayerStats]
    loss: float
    num_classes: int
    steps: FirstSteps


Rule = Callable[[Probe], "str | None"]  # the reason the rule fired (a sentence), or None


def non_finite(p: Probe) -> str | None:
    grads = [l.get("grad_norm") for l in p.layers]
    if not finite(p.loss):
        return f"the loss at initialisation is {p.loss}"
    bad = [l["name"] for l, g in zip(p.layers, grads) if g is not None and not finite(g)]
    return f"the gradient of {', '.join(bad)} is not finite" if bad else None


def step_larger_than_weight(p: Probe) -> str | None:
    steps = [
        (l["name"], s)
        for l in p.layers
        if not l.get("normalised") and (s := p.steps.relative_step(l)) is not None
    ]
    big = [(n, s) for n, s in steps if s > STEP_BOUND]
    if not big:
        return None
    name, size = max(big, key=lambda b: b[1])
    return (
        f"under {p.steps.text()} the steady step of {name} is {size:.3g}x its weight "
        f"({len(big)} layer(s) above {STEP_BOUND:g}x, none followed by a normalisation): the first "
        "steps replace the weights"
    )


def inputs_merged_without_gradient(p: Probe) -> str | None:
    if p.steps.optimizer != "sgd":
        return None
    path = signal_path(p.layers)
    last = path[-1].get("input_corr") if path else None
    back, _ = signal_fits(p.layers)
    if last is None or back is None or last < CORR_MERGED:
        return None
    if back["change"] >= 1 / SIGNAL_CHANGE_LIMIT:
        return None
    return (
        f"every image reaches the classifier as nearly the same point (input correlation "
        f"{last:.4f} at {path[-1]['name']}, >= {CORR_MERGED}), and the backward signal that would "
        f"separate them shrinks x{back['change']:.2g} toward the input (beyond 1/{SIGNAL_CHANGE_LIMIT:.0f}): "
        "SGD's steps in the early layers are that much smaller"
    )


RULES: tuple[tuple[str, Predicted, Rule], ...] = (
    ("non-finite", DIVERGES, non_finite),
    ("step larger than the weight", DIVERGES, step_larger_than_weight),
    ("inputs merged, no gradient to separate them", STAYS, inputs_merged_without_gradient),
)


def predict(p: Probe) -> dict[str, object]:
    """{"outcome", "rule" (the name of the rule that decided; None for trains), "reasons" (the
    sentences of every rule that fired, the deciding one first), "optimizer", "largest_steps"}."""
    fired = [(name, outcome, why) for name, outcome, rule in RULES if (why := rule(p)) is not None]
    if fired:
        name, outcome, _ = fired[0]
    else:
        name, outcome = None, TRAINS
    reasons = [f"{n}: {why}" for n, _, why in fired] or ["no rule fired"]
    outcome_text = outcome.replace("ln C", f"ln {p.num_classes}")
    return {
        "outcome": outcome,
        "text": outcome_text,
        "rule": name,
        "reasons": reasons,
        "optimizer": p.steps.text(),
        "largest_steps": largest_steps(p),
    }


def largest_steps(p: Probe, n: int = 3) -> list[dict[str, object]]:
    """The ``n`` layers with the largest steady first step relative to their weight under the
    probe's optimiser (evidence beside rule 2: {"name", "step", "normalised"})."""
    steps = [
        {"name": l["name"], "step": s, "normalised": bool(l.get("normalised"))}
        for l in p.layers
        if (s := p.steps.relative_step(l)) is not None and finite(s)
    ]
    return sorted(steps, key=lambda d: -d["step"])[:n]
