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
   gradient); Adam's normalised step moves each weight by about lr whatever the gradient's size,
   as long as it is well above Adam's eps (Kingma & Ba 2015, section 2.1), i.e. lr / rms(W)
   relative to the weight (a layer with no gradient does not move). Layers followed by
   a normalisation (BatchNorm) are exempt: their output does not depend on the weight's scale, so
   a large step grows ||W|| and shrinks the next effective step by 1/||W||^2 (van Laarhoven 2017;
   Arora et al. 2019) rather than blowing up the output. Layers whose weight is zero (Fixup's
   classifier, a zero-initialised last conv) are exempt: they are meant to grow from 0.
3. ``inputs merged, no gradient to separate them`` -> stays at ln C, under SGD only: different
   images' responses at the path's last layer (before the classifier; the uncentred cosine of
   stats.input_correlation, so a shared offset counts as sameness) are nearly the same (input
   correlation at least ``CORR_MERGED``), so the output can fit the class prior but hardly
   anything about the image; and the backward signal that would have to separate the images in
   the early layers shrinks toward the input by more than ``SIGNAL_CHANGE_LIMIT`` (verdict.py; or
   is 0 somewhere, unless the output layer starts at zero), so SGD's steps there are that much
   smaller than at the output. Adam is exempt: its step does not scale with the gradient's size
   (rule 2's reason), so a vanishing signal does not slow the early layers.

What none of them sees: a budget. "Stays at ln C" means "within a budget of the order of the
map's" (hundreds to a few thousand steps); a net the rule calls stuck may still leave later (the
full-width DeepCNN left after about 1,400 steps, docs/results.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .stats import LayerStats, finite
from .verdict import SIGNAL_CHANGE_LIMIT, signal_fits, signal_path, zero_output_layer

TRAINS, STAYS, DIVERGES = "trains", "stays at ln C", "diverges"
Predicted = Literal["trains", "stays at ln C", "diverges"]

# Rule 2: a steady step larger than the weight itself (relative size 1) replaces the weight.
STEP_BOUND = 1.0
# Rule 3: 1 - c below 1e-3 means the part of the classifier's input that differs between two
# images is under sqrt(2e-3) ~ 4.5 % of its norm (for unit vectors, |a - b|^2 = 2(1 - c)).
CORR_MERGED = 0.999
# What diagnose says of the rules' measured record: the calibration on the trainability map's
# held-out runs, 3 seeds (issue 33; docs/diagnostics.md; tests/test_docs_numbers.py checks it
# against docs/measurements/calibration/prediction-calibration.json).
HIT_RATE_TEXT = (
    "on 165 held-out runs of the trainability map right in 136 (82 %, 95 % CI 76-88 %), but only "
    "6 of 35 failures foreseen: a 'trains' is weak evidence"
)


@dataclass(frozen=True)
class FirstSteps:
    """The optimiser's first steps, as far as the rules need them (:meth:`of` a config's optim section)."""

    optimizer: Literal["sgd", "adam"]
    lr: float
    momentum: float = 0.0  # SGD's; Adam's beta1 does not change its step's size

    @classmethod
    def of(cls, optim: Mapping[str, Any], depth: int) -> FirstSteps:
        """The first steps of the optimiser a config's ``optim`` section sets, on a net of ``depth``
        main-path weight layers: at the warm-up's lr where the schedule warms this net up
        (train.LRSchedule: ``warmup_lr`` set and ``depth >= warmup_min_depth``)."""
        name = optim["name"]
        if name not in ("sgd", "adam"):
            raise ValueError(f"no first-step rule for optimizer {name!r}; sgd or adam")
        warm = optim.get("warmup_lr") is not None and depth >= optim.get("warmup_min_depth", 0)
        lr = optim["warmup_lr"] if warm else optim["lr"]
        return cls(name, lr, optim.get("momentum", 0.0) if name == "sgd" else 0.0)

    def relative_step(self, layer: LayerStats) -> float | None:
        """The steady step of ``layer``'s weight relative to the weight (None: not defined)."""
        if not layer.get("weight_norm") or not finite(layer.get("grad_to_weight", math.nan)):
            return None
        if self.optimizer == "sgd":
            return self.lr / (1 - self.momentum) * layer["grad_to_weight"]
        # Adam's update lr * m / (sqrt(v) + eps) is about lr per weight only where the gradient is
        # well above eps (1e-8); a layer with no gradient does not move at all.
        rms = layer.get("weight_rms")
        return self.lr / rms if rms and layer["grad_to_weight"] > 0 else None

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
    if not finite(p.loss):
        return f"the loss at initialisation is {p.loss}"
    # None is how a stored probe (JSON) writes a NaN or an infinity, as verdict._non_finite reads it.
    bad = [l["name"] for l in p.layers if not finite(l.get("grad_norm"))]
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
    if last is None or last < CORR_MERGED:
        return None
    # No signal at all on some layer is the extreme of a vanishing one (verdict._no_gradient), unless
    # the output layer starts at zero (Fixup): then it learns first and the rest follows.
    if any(l.get("back_signal") == 0 for l in path) and zero_output_layer(p.layers) is None:
        change = "to 0"
    else:
        back, _ = signal_fits(p.layers)
        if back is None or back["change"] >= 1 / SIGNAL_CHANGE_LIMIT:
            return None
        change = f"x{back['change']:.2g}"
    return (
        f"different images' responses at the path's last layer are nearly the same (input "
        f"correlation {last:.4f} at {path[-1]['name']}, >= {CORR_MERGED}), and the backward signal "
        f"that would separate them shrinks {change} toward the input (beyond 1/{SIGNAL_CHANGE_LIMIT:.0f}): "
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
