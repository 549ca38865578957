"""Shattered gradients (Balduzzi et al. 2017, "The shattered gradients problem: if resnets are the
answer, then what is the question?").

Along a straight line of inputs x(t) = a + t (b - a), t in [0, 1] at ``POINTS`` evenly spaced points,
between two validation images a and b, take the gradient g(t) of one output (the logit of a's true
class) with respect to the input. For a linear model g is the same everywhere; Balduzzi et al. show
that in deep plain ReLU nets at initialisation the gradients at neighbouring inputs decorrelate
exponentially with depth ("shatter", like white noise), while with skip connections the decay is
much slower. Measured here: the mean cosine similarity of g(t) and g(t + lag) over the line, averaged
over lines, for lags of 1..``MAX_LAG`` steps; the headline number is the lag-1 value ("neighbour
correlation"), and the correlation length is the first lag at which the mean falls below 1/2.

Models are evaluated in eval mode, so each input's gradient depends on that input alone. At
initialisation BatchNorm's running statistics are recomputed on the line's images first (the
defaults, mean 0 and variance 1, would switch normalisation off; common.recalibrate_bn).
"""

from __future__ import annotations

import itertools
from typing import Any

import torch
from torch import nn

from .common import by_depth, paired, recalibrate_bn

TITLE = "Shattered gradients (Balduzzi et al. 2017)"
DEFAULT_SUBSET = 8  # lines (each from one validation image to the next)
POINTS = 256  # inputs per line, as in Balduzzi et al.'s 1-D experiments
MAX_LAG = 128  # half the line
HALF = 0.5  # the correlation length is the first lag whose mean cosine is below this


def line_gradients(
    model: nn.Module, a: torch.Tensor, b: torch.Tensor, target: int, points: int = POINTS
) -> torch.Tensor:
    """(points, input size): d output[target] / d input at each point of the line from ``a`` to ``b``."""
    t = torch.linspace(0, 1, points, device=a.device).view(-1, *[1] * a.dim())
    x = (a + t * (b - a)).requires_grad_()
    out = model(x)
    (grad,) = torch.autograd.grad(out[:, target].sum(), x)
    return grad.flatten(1)


def lag_cosines(g: torch.Tensor, max_lag: int = MAX_LAG) -> torch.Tensor:
    """Mean cosine similarity of rows ``lag`` apart, for lag = 1..max_lag (a zero row counts as 0: a
    dead net's gradients read as uncorrelated, so ``shatter`` reports the share of zero gradients)."""
    norms = g.norm(dim=1, keepdim=True)
    unit = torch.where(
        norms > 0, g / norms.clamp_min(torch.finfo(g.dtype).tiny), torch.zeros_like(g)
    )
    sim = unit @ unit.T
    return torch.stack([sim.diagonal(lag).mean() for lag in range(1, min(max_lag, len(g) - 1) + 1)])


def shatter(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    points: int = POINTS,
    max_lag: int = MAX_LAG,
    recalibrate: bool = False,
    bar=None,
) -> dict[str, Any]:
    """Gradient correlation along the lines from ``x[i]`` to ``x[i+1]`` (cyclically), output = the logit
    of ``y[i]`` (for a single-output model, that output). ``recalibrate``: recompute BatchNorm
    statistics on the lines' inputs first (for a model at initialisation). Returns the mean cosine per
    lag, its lag-1 value, the correlation length and one line's directional derivative for plots."""
    if len(x) < 2:
        raise ValueError("shatter needs at least 2 inputs (a line runs from one to the next)")
    if recalibrate:
        # 16 points of every line: the statistics of the inputs the gradients are taken at.
        recalibrate_bn(
            model,
            torch.cat([x + s * (x.roll(-1, 0) - x) for s in torch.linspace(0, 1, 16).tolist()]),
        )
    model.eval()
    curves, centred, zeros, profile = [], [], [], None
    for i in range(len(x)):
        a, b = x[i], x[(i + 1) % len(x)]
        g = line_gradients(model, a, b, int(y[i]) if y.dim() == 1 else 0, points).double()
        curves.append(lag_cosines(g, max_lag))
        # Balduzzi et al. correlate gradients after removing their mean over the inputs; the plain
        # cosine above also counts the part of the gradient every point of the line shares.
        centred.append(lag_cosines(g - g.mean(0), max_lag))
        zeros.append((g.norm(dim=1) == 0).double().mean())
        if (
            profile is None
        ):  # the directional derivative along the first line, as in the paper's Figure 1
            profile = (g @ (b - a).flatten().double()).tolist()
        if bar is not None:
            bar.update(1)
    per_line, centred_mean = torch.stack(curves), torch.stack(centred).mean(0)
    mean = per_line.mean(0)
    below = (mean < HALF).nonzero()
    return {
        "lags": list(range(1, len(mean) + 1)),
        "cosine": mean.tolist(),
        "cosine_std": per_line.std(0).tolist() if len(curves) > 1 else [0.0] * len(mean),
        "neighbour": mean[0].item(),
        "length": int(below[0]) + 1 if len(below) else None,
        "centred": centred_mean.tolist(),
        "centred_neighbour": centred_mean[0].item(),
        "zero_gradients": torch.stack(zeros).mean().item(),
        "profile": profile,
        "lines": len(x),
        "points": points,
    }


def prepare(run, x: torch.Tensor, y: torch.Tensor, opts, directions=None) -> int:
    if len(x) < 2:
        raise ValueError(
            "a line runs from one validation image to the next: pass --subset 2 or more"
        )
    return 2 * len(x)


def measure(
    run, x: torch.Tensor, y: torch.Tensor, opts, directions=None, *, bar=None, device: torch.device
) -> tuple[dict[str, Any], dict[str, Any]]:
    """At initialisation (BatchNorm statistics recomputed) and after training."""
    return {
        "init": shatter(run.build("init").to(device), x, y, recalibrate=True, bar=bar),
        "final": shatter(run.build("final").to(device), x, y, bar=bar),
    }, {}


# --------------------------------------------------------------------------- report


def _length(r: dict[str, Any]) -> str:
    return f"{r['length']} step(s)" if r["length"] is not None else f"> {len(r['lags'])} steps"


def sentences(entries: list[dict[str, Any]]) -> list[str]:
    entries = by_depth(entries)
    out = []
    for e in entries:
        parts = []
        for phase in ("init", "final"):
            if phase in e:
                r = e[phase]
                text = (
                    f"{phase}: neighbour correlation {r['neighbour']:.3f} (mean-centred "
                    f"{r.get('centred_neighbour', float('nan')):.3f}), length {_length(r)}"
                )
                if r.get("zero_gradients"):
                    text += f", {100 * r['zero_gradients']:.0f}% of the gradients exactly zero"
                parts.append(text)
        out.append(f"{e['label']} ({e['family']}, depth {e['depth']}): " + "; ".join(parts) + ".")
    for phase in ("init", "final"):
        when = "at initialisation" if phase == "init" else "after training"
        for family in ("plain", "residual"):
            by_d: dict[int, list[float]] = {}
            for e in entries:
                if phase in e and e["family"] == family:
                    by_d.setdefault(e["depth"], []).append(e[phase]["neighbour"])
            if len(by_d) < 2:
                continue
            means = [(d, sum(v) / len(v), len(v)) for d, v in sorted(by_d.items())]
            falls = all(b[1] < a[1] for a, b in itertools.pairwise(means))
            trend = (
                "falls with every increase in depth"
                if falls
                else "does not fall monotonically with depth"
            )
            out.append(
                f"{family} nets {when}: neighbour correlation {trend}: "
                + ", ".join(
                    f"{m:.3f} at depth {d}" + (f" (mean of {n} runs)" if n > 1 else "")
                    for d, m, n in means
                )
                + "."
            )
        for depth, (p, r) in paired([e for e in entries if phase in e]).items():
            out.append(
                f"Gradient correlation between neighbouring inputs {when} at depth {depth}: "
                f"{p['label']} {p[phase]['neighbour']:.3f}, {r['label']} {r[phase]['neighbour']:.3f}."
            )
    return out


def figure(entries: list[dict[str, Any]]):
    entries = by_depth(entries)
    from ..reporting.plots import _color, plt

    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(15, 4.2))
    for i, e in enumerate(entries):
        prof = torch.tensor(e["init"]["profile"])
        scale = prof.abs().max().clamp_min(1e-30)
        ax1.plot(
            torch.linspace(0, 1, len(prof)),
            (prof / scale + 2.2 * i).tolist(),
            color=_color(i),
            lw=0.8,
            label=e["label"],
        )
        for phase, ls in (("init", "-"), ("final", "--")):
            if phase in e:
                ax2.plot(
                    e[phase]["lags"],
                    e[phase]["cosine"],
                    ls,
                    color=_color(i),
                    label=f"{e['label']} ({phase})",
                )
    for family, marker in (("plain", "s"), ("residual", "o")):
        for phase, ls in (("init", "-"), ("final", "--")):
            rows = sorted(
                (e["depth"], e[phase]["neighbour"])
                for e in entries
                if e["family"] == family and phase in e
            )
            if rows:
                ax3.plot(*zip(*rows), marker=marker, ls=ls, label=f"{family} ({phase})")
    ax1.set(
        xlabel="position t on the line between two validation images",
        yticks=[],
        title="d logit / d input along the line, at init\n(scaled to ±1 per model)",
    )
    ax1.legend(fontsize=7, loc="upper right")
    ax2.set(
        xscale="log",
        xlabel="lag (steps of 1/255 of the line)",
        ylabel="mean cosine of input gradients",
        ylim=(-0.1, 1.02),
        title="Gradient correlation vs distance\n(solid: init, dashed: trained)",
    )
    ax2.axhline(HALF, color="grey", lw=0.8, ls=":")
    ax2.legend(fontsize=7)
    ax3.set(
        xlabel="depth (weight layers on the main path)",
        ylabel="neighbour correlation (lag 1)",
        ylim=(-0.05, 1.02),
        title="Neighbour correlation vs depth",
    )
    ax3.legend(fontsize=7)
    fig.tight_layout()
    return fig
