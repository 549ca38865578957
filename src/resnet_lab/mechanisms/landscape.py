"""Loss landscapes (Li, Xu, Taylor, Studer & Goldstein 2018, "Visualizing the loss landscape of neural
nets") and the straight path from initial to trained weights (Goodfellow, Vinyals & Saxe 2015).

Around the trained weights θ the loss is evaluated at θ + α·d1 (a 1-D slice, α in [-1, 1]) and at
θ + α·d1 + β·d2 (a 2-D surface on a ``resolution``² grid), where d1, d2 are random Gaussian
directions *filter-normalised* as Li et al. do: each filter (output unit) of d is rescaled to the
norm of the same filter of θ, so a step means the same relative change in every layer whatever its
scale. Parameters with one dimension or none (biases, BatchNorm's scale and shift, SkipInit's α) get
no direction, as in Li et al.'s default; BatchNorm's running statistics stay those of θ (eval mode).
The directions are saved, so the same ones can be used for another model of the same architecture.

The interpolation evaluates (1-α)·θ0 + α·θ for α in [-0.25, 1.25]; there BatchNorm's statistics are
recomputed on the evaluation images at every α, since the running statistics of θ0 (the defaults)
and of θ belong to other weights. Li et al.'s finding: without skip connections the surface becomes
chaotic (many local minima, a narrow basin) as depth grows; with them it stays smooth and nearly
convex. All values are on fixed validation images, never the test set.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from .common import LossFn, by_depth, cross_entropy_sum, evaluate, paired, recalibrate_bn

TITLE = "Loss landscape (Li et al. 2018) and the path from initial to trained weights"
DEFAULT_SUBSET = 500  # validation images per evaluation
RESOLUTION = 21  # 2-D grid points per axis
SLICE_POINTS = 41  # 1-D slice points
INTERPOLATION = 31  # points of the init -> trained path, alpha in [-0.25, 1.25] (steps of 0.05)
DIRECTIONS_FORMAT = "resnet-lab-directions"
CLIMB_TOLERANCE = (
    0.01  # a rise along the init -> trained path up to this (loss units) still counts as monotone
)
MINIMUM_DEPTH = (
    1e-3  # loss units a grid point must lie below all 8 neighbours to count as a local minimum
)

Directions = dict[str, torch.Tensor]


def gaussian(model: nn.Module, generator: torch.Generator) -> Directions:
    """A raw random direction: N(0, 1) for every parameter (what a directions file stores)."""
    return {
        name: torch.randn(p.shape, generator=generator, dtype=torch.float32)
        for name, p in model.named_parameters()
    }


def filter_normalized(model: nn.Module, raw: Directions) -> Directions:
    """``raw`` with every filter scaled to the norm of the same filter of ``model`` (Li et al. eq. 1);
    zero for parameters with fewer than two dimensions. Done per model, so saved raw directions give
    each model of an architecture directions normalised to its own weights."""
    out = {}
    for name, p in model.named_parameters():
        d = raw[name].to(p)
        if p.dim() < 2:
            out[name] = torch.zeros_like(p)
            continue
        # One filter = one output unit: dim 0 of a conv or linear weight.
        scale = p.detach().flatten(1).norm(dim=1) / d.flatten(1).norm(dim=1).clamp_min(1e-12)
        out[name] = d * scale.view(-1, *[1] * (p.dim() - 1))
    return out


def check_directions(model: nn.Module, blob: dict[str, Any]) -> tuple[Directions, Directions]:
    """The two raw directions of a saved directions file; ValueError when they do not fit ``model``."""
    if not isinstance(blob, dict) or blob.get("format") != DIRECTIONS_FORMAT:
        raise ValueError("it is not a resnet-lab directions file")
    shapes = {k: tuple(p.shape) for k, p in model.named_parameters()}
    for key in ("d1", "d2"):
        got = {k: tuple(v.shape) for k, v in blob[key].items()}
        if got != shapes:
            diff = sorted(set(got) ^ set(shapes)) or [k for k in shapes if got[k] != shapes[k]]
            raise ValueError(
                f"it was made for model {blob.get('model')!r} and does not fit this one "
                f"(parameter {diff[0]} differs)"
            )
    return blob["d1"], blob["d2"]


def _set(model: nn.Module, theta: Directions, *terms: tuple[float, Directions]) -> None:
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(theta[name] + sum(c * d[name] for c, d in terms))


def _stats(surface: torch.Tensor, chance_loss: float | None) -> dict[str, Any]:
    """Shape statistics of the 2-D surface: local minima (interior points lower than all 8 neighbours;
    an edge point's lowest neighbour may lie outside the grid) and, for class scores, the fraction of
    the grid below the loss of uniform guessing (ln C)."""
    s = torch.where(torch.isfinite(surface), surface, torch.full_like(surface, float("inf")))
    padded = nn.functional.pad(s[None, None], (1, 1, 1, 1), value=float("inf"))[0, 0]
    n = len(s)
    neighbours = torch.stack(
        [
            padded[1 + di : 1 + di + n, 1 + dj : 1 + dj + n]
            for di in (-1, 0, 1)
            for dj in (-1, 0, 1)
            if di or dj
        ]
    )
    # A minimum must be lower than every neighbour by MINIMUM_DEPTH: a flat surface (a net that never
    # learned) would otherwise count its rounding noise as minima.
    minima = int((s < neighbours.min(0).values - MINIMUM_DEPTH)[1:-1, 1:-1].sum())
    out: dict[str, Any] = {
        "local_minima": minima,
        "center_loss": s[n // 2, n // 2].item(),
        "max_loss": s[torch.isfinite(s)].max().item() if torch.isfinite(s).any() else None,
    }
    if chance_loss is not None:
        out["below_chance_fraction"] = (s < chance_loss).double().mean().item()
    return out


def climb(losses: list[float], alphas: list[float]) -> tuple[float, float, float]:
    """The largest rise of the loss from a point of the path to a later one, 0 <= alpha <= 1: (height,
    alpha from, alpha to); 0 for a monotone decrease (Goodfellow et al.'s finding), NaN if the loss is
    not finite somewhere (max() would otherwise skip a NaN and call the path monotone)."""
    inside = [(a, v) for a, v in zip(alphas, losses) if -1e-9 <= a <= 1 + 1e-9]
    if not all(math.isfinite(v) for _, v in inside):
        return float("nan"), float("nan"), float("nan")
    best, low = (0.0, 0.0, 0.0), inside[0] if inside else (0.0, 0.0)
    for a, v in inside:
        if v < low[1]:
            low = (a, v)
        elif v - low[1] > best[0]:
            best = (v - low[1], low[0], a)
    return best


def work(resolution: int = RESOLUTION, interpolate: bool = True) -> int:
    return resolution * resolution + SLICE_POINTS + (INTERPOLATION if interpolate else 0)


def landscape(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    init_state: dict[str, torch.Tensor] | None = None,
    directions: tuple[Directions, Directions] | None = None,
    seed: int = 0,
    resolution: int = RESOLUTION,
    loss_fn: LossFn = cross_entropy_sum,
    chance_loss: float | None = None,
    batch_size: int = 500,
    bar=None,
) -> tuple[dict[str, Any], tuple[Directions, Directions]]:
    """The 1-D slice, the 2-D surface and (given ``init_state``, a state_dict of the same model) the
    interpolation from init to ``model``'s weights, on ``x, y``. ``loss_fn`` returns the summed loss;
    ``directions``: two raw directions (as :func:`gaussian` draws them, e.g. from a saved file), else
    drawn from ``seed``; either way filter-normalised to ``model``. Returns (result, the raw
    directions). The model's weights and buffers are restored afterwards."""
    if resolution < 3 or resolution % 2 == 0:
        raise ValueError(
            f"resolution must be odd and >= 3 (the trained weights are the middle point), got {resolution}"
        )
    model.eval()
    theta = {k: p.detach().clone() for k, p in model.named_parameters()}
    buffers = {k: b.clone() for k, b in model.named_buffers()}
    if directions is None:
        gen = torch.Generator().manual_seed(seed)
        directions = (gaussian(model, gen), gaussian(model, gen))
    d1, d2 = (filter_normalized(model, raw) for raw in directions)

    def point(*terms: tuple[float, Directions]) -> tuple[float, float]:
        _set(model, theta, *terms)
        value = evaluate(model, x, y, batch_size=batch_size, loss_fn=loss_fn)
        if bar is not None:
            bar.update(1)
        return value

    try:
        # Exact fractions, so that 0 (the trained weights) and 1 (on the path) are points of each.
        half = (SLICE_POINTS - 1) // 2
        alphas = [(i - half) / half for i in range(SLICE_POINTS)]
        slice_ = [point((a, d1)) for a in alphas]
        grid = [(2 * i - (resolution - 1)) / (resolution - 1) for i in range(resolution)]
        surface = [[point((a, d1), (b, d2)) for b in grid] for a in grid]
        result: dict[str, Any] = {
            "slice": {
                "alphas": alphas,
                "loss": [v[0] for v in slice_],
                "acc": [v[1] for v in slice_],
            },
            "surface": {
                "alphas": grid,
                "loss": [[v[0] for v in row] for row in surface],
                "acc": [[v[1] for v in row] for row in surface],
            },
            "images": len(x),
            "seed": seed,
        }
        result["stats"] = _stats(
            torch.tensor(result["surface"]["loss"], dtype=torch.float64), chance_loss
        )
        if init_state is not None:
            theta0 = {k: init_state[k].to(theta[k]) for k in theta}
            path = [(i - 5) / 20 for i in range(INTERPOLATION)]  # -0.25 .. 1.25 in steps of 0.05
            values = []
            for a in path:
                with torch.no_grad():
                    for name, p in model.named_parameters():
                        p.copy_((1 - a) * theta0[name] + a * theta[name])
                recalibrate_bn(model, x, batch_size)
                values.append(evaluate(model, x, y, batch_size=batch_size, loss_fn=loss_fn))
                if bar is not None:
                    bar.update(1)
            result["interpolation"] = {
                "alphas": path,
                "loss": [v[0] for v in values],
                "acc": [v[1] for v in values],
            }
    finally:
        _set(model, theta)
        with torch.no_grad():
            for k, b in model.named_buffers():
                b.copy_(buffers[k])
        model.eval()
    return result, directions


def prepare(run, x: torch.Tensor, y: torch.Tensor, opts, directions=None) -> int:
    if directions is not None:
        check_directions(run.build("final"), directions)
    return work(opts.resolution)


def measure(
    run, x: torch.Tensor, y: torch.Tensor, opts, directions=None, *, bar=None, device: torch.device
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The landscape of ``run``'s trained model, and its directions as a file to save."""
    model = run.build("final").to(device)
    given = check_directions(model, directions) if directions is not None else None
    classes = run.options.get("num_classes")
    result, (d1, d2) = landscape(
        model,
        x,
        y,
        init_state=run.init_state,
        directions=given,
        seed=opts.seed,
        resolution=opts.resolution,
        chance_loss=math.log(classes) if classes else None,
        bar=bar,
    )
    blob = {
        "format": DIRECTIONS_FORMAT,
        "model": run.model,
        "model_options": run.options,
        "seed": opts.seed,
        "d1": {k: v.cpu() for k, v in d1.items()},
        "d2": {k: v.cpu() for k, v in d2.items()},
    }
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in run.label)
    return result, {f"landscape-directions/{safe}.pt": blob}


# --------------------------------------------------------------------------- report


def sentences(entries: list[dict[str, Any]]) -> list[str]:
    entries = by_depth(entries)
    out = []
    for e in entries:
        st, grid = e["stats"], len(e["surface"]["alphas"])
        s = (
            f"{e['label']} ({e['family']}, depth {e['depth']}): loss {st['center_loss']:.3f} at the trained weights; "
            f"{_minima(st['local_minima'])} inside the {grid}x{grid} grid"
        )
        if "below_chance_fraction" in st:
            s += f"; below ln {e['num_classes']} (uniform guessing) on {100 * st['below_chance_fraction']:.0f}% of it"
        out.append(s + ".")
        if "interpolation" in e:
            height, a, b = climb(e["interpolation"]["loss"], e["interpolation"]["alphas"])
            text = (
                "is not finite at some points."
                if not math.isfinite(height)
                else f"never climbs by more than {CLIMB_TOLERANCE} (monotone at this resolution, steps of 0.05)."
                if height <= CLIMB_TOLERANCE
                else f"climbs by {height:.3f} from α = {a:.2f} to α = {b:.2f}."
            )
            out.append(
                f"{e['label']}: on the straight path from the initial to the trained weights the loss {text}"
            )
    for depth, (plain, res) in paired(entries).items():
        p, r = plain["stats"], res["stats"]
        if "below_chance_fraction" in p and "below_chance_fraction" in r:
            out.append(
                f"At depth {depth}, {plain['label']}'s surface has {_minima(p['local_minima'])} and is below ln C "
                f"on {100 * p['below_chance_fraction']:.0f}% of the grid; {res['label']}'s has "
                f"{_minima(r['local_minima'])} and {100 * r['below_chance_fraction']:.0f}%."
            )
    return out


def _minima(n: int) -> str:
    return f"{n} local minim{'um' if n == 1 else 'a'}"


def figure(entries: list[dict[str, Any]]):
    entries = by_depth(entries)
    from ..reporting.plots import _color, plt

    n = max(1, len(entries))
    fig = plt.figure(figsize=(max(11, 3.6 * n), 7.6), layout="constrained")
    grid = fig.add_gridspec(2, max(n, 2))
    finite = [v for e in entries for row in e["surface"]["loss"] for v in row if math.isfinite(v)]
    chance = max(
        (math.log(e["num_classes"]) for e in entries if e.get("num_classes")), default=None
    )
    low = min(finite) if finite else 0.0
    high = min(max(finite) if finite else 1.0, 3 * chance if chance else float("inf"))
    levels = torch.linspace(
        low, max(high, low + 1e-6), 16
    ).tolist()  # one colour scale for every model
    filled = None
    for i, e in enumerate(entries):
        ax = fig.add_subplot(grid[0, i])
        a = e["surface"]["alphas"]
        z = torch.tensor(e["surface"]["loss"]).clamp(max=levels[-1]).T  # rows: beta, columns: alpha
        filled = ax.contourf(a, a, z.tolist(), levels=levels, cmap="viridis")
        ax.contour(a, a, z.tolist(), levels=levels, colors="white", linewidths=0.3)
        ax.plot(0, 0, "r+")
        ax.set(
            title=e["label"], xlabel="α (direction 1)", ylabel="β (direction 2)" if i == 0 else None
        )
        if i:
            ax.tick_params(labelleft=False)
    if filled is not None:
        fig.colorbar(
            filled, ax=[fig.axes[i] for i in range(len(entries))], label="validation loss (capped)"
        )
    ax_slice = fig.add_subplot(grid[1, : max(n, 2) // 2])
    ax_path = fig.add_subplot(grid[1, max(n, 2) // 2 :])
    for i, e in enumerate(entries):
        ax_slice.plot(e["slice"]["alphas"], e["slice"]["loss"], color=_color(i), label=e["label"])
        if "interpolation" in e:
            ax_path.plot(
                e["interpolation"]["alphas"],
                e["interpolation"]["loss"],
                "o-",
                ms=3,
                color=_color(i),
                label=e["label"],
            )
    if chance:
        for ax in (ax_slice, ax_path):
            ax.axhline(chance, color="grey", lw=1, ls="--", label="ln C (uniform guess)")
    ax_slice.set(
        xlabel="α (filter-normalised direction 1)",
        ylabel="validation loss",
        yscale="log",
        title="1-D slice through the trained weights",
    )
    ax_path.set(
        xlabel="α: (1-α)·initial + α·trained",
        ylabel="validation loss",
        yscale="log",
        title="Straight path from initial (0) to trained (1) weights",
    )
    ax_slice.legend(fontsize=7)
    ax_path.legend(fontsize=7)
    return fig
