"""Figures for the report, drawn with matplotlib's Agg backend (no display needed).

Each function takes plain data loaded from a run directory (the dicts report.py reads) and returns a Figure;
nothing here imports the training code.
"""

from __future__ import annotations

import math
from typing import Any

import matplotlib

matplotlib.use("Agg", force=False)  # headless; harmless if the caller already chose Agg
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..models.paths import is_shortcut_label
from ..spread import mean_std

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]


def _color(i: int) -> str:
    return COLORS[i % len(COLORS)]


def _mean_band(histories: list[list[dict[str, Any]]], split: str, key: str):
    """Epochs every seed reached, the mean over seeds and its std (zeros for one seed)."""
    n = min(len(h) for h in histories)
    stats = [mean_std([h[i][split][key] for h in histories]) for i in range(n)]
    return (
        [histories[0][i]["epoch"] for i in range(n)],
        [m for m, _ in stats],
        [s or 0.0 for _, s in stats],
    )


def learning_curves(conds: list[dict[str, Any]], num_classes: int) -> Figure:
    """Train (dashed) / validation (solid) loss and accuracy per epoch, all models on shared axes.
    ``conds``: dicts with ``label`` and ``entries`` (one per seed, each with its ``history``); with
    several seeds the line is the mean and the shaded band ± one std over seeds."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(13, 4.2))
    banded = False
    for i, c in enumerate(conds):
        histories = [m["history"] for m in c["entries"] if m["history"]]
        if not histories:
            continue
        n, shortest = len(histories), min(len(h) for h in histories)
        # A seed that stopped early (diverged) ends the mean there; the label says so.
        tag = (
            f" (n={n}"
            + (f", to epoch {shortest}" if shortest < max(len(h) for h in histories) else "")
            + ")"
            if n > 1
            else ""
        )
        banded = banded or n > 1
        for split, style in (("train", "--"), ("val", "-")):
            for ax, key in ((ax_loss, "loss"), (ax_acc, "acc")):
                epochs, mean, std = _mean_band(histories, split, key)
                ax.plot(
                    epochs,
                    mean,
                    style,
                    color=_color(i),
                    marker=".",
                    label=f"{c['label']}{tag}" if (split, key) == ("val", "acc") else None,
                )
                if n > 1:
                    ax.fill_between(
                        epochs,
                        [m - s for m, s in zip(mean, std)],
                        [m + s for m, s in zip(mean, std)],
                        color=_color(i),
                        alpha=0.15,
                        lw=0,
                    )
    ax_loss.axhline(math.log(num_classes), color="grey", lw=1, ls=":")
    ax_loss.annotate(
        f"ln {num_classes} = {math.log(num_classes):.4f}",
        (0.01, math.log(num_classes)),
        xycoords=("axes fraction", "data"),
        va="bottom",
        fontsize=8,
        color="grey",
    )
    ax_acc.axhline(100 / num_classes, color="grey", lw=1, ls=":")
    ax_acc.annotate(
        f"chance {100 / num_classes:.0f}%",
        (0.01, 100 / num_classes),
        xycoords=("axes fraction", "data"),
        va="bottom",
        fontsize=8,
        color="grey",
    )
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="Loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="Accuracy")
    fig.suptitle(
        "dashed: train, solid: validation" + ("; mean over seeds, band ± 1 std" if banded else ""),
        fontsize=10,
    )
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_acc.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig


def _layer_plot(ax, models, key: str, phases=("init", "final"), log: bool = True) -> None:
    for i, m in enumerate(models):
        d = m.get("diagnosis")
        if not d:
            continue
        for phase, style in zip(phases, ("--", "-")):
            if phase not in d["probe"]:
                continue
            layers = [l for l in d["probe"][phase]["layers"] if not is_shortcut_label(l["name"])]
            values = [l[key] if l.get(key) is not None else float("nan") for l in layers]
            ax.plot(
                range(1, len(values) + 1),
                values,
                style,
                color=_color(i),
                marker="o",
                ms=3,
                label=f"{m['label']} ({'init' if phase == 'init' else 'trained'})",
            )
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("layer (forward order, projections omitted; last = fc)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)


def gradient_flow(models: list[dict[str, Any]]) -> Figure:
    """Per layer, log scale, at initialisation (dashed) and after training (solid): the backward
    signal ||dL/dh|| the verdicts read (size-free: flat in a healthy net, docs/diagnostics.md) and
    the weight-gradient norm ||dL/dW|| (which also grows with the layer's number of weights)."""
    fig, (ax_sig, ax_w) = plt.subplots(1, 2, figsize=(14, 4))
    _layer_plot(ax_sig, models, "back_signal")
    ax_sig.set(
        ylabel="backward signal (RMS of ||dL/dh|| per image)",
        title="Backward signal at each layer (dashed: init, solid: trained)",
    )
    _layer_plot(ax_w, models, "grad_norm")
    ax_w.set(
        ylabel="weight-gradient norm", title="Weight-gradient norm (dashed: init, solid: trained)"
    )
    fig.tight_layout()
    return fig


def layer_responses(models: list[dict[str, Any]]) -> Figure:
    """Std of each layer's response (He et al. Figure 7 style), std of its weights, and relative weight
    change per layer. The seed's "conv1 0.11 -> conv10 0.012" are weight stds (the default init's
    1/sqrt(3 fan_in)); the response stds are what shows the signal shrinking."""
    fig, (ax_std, ax_w, ax_dw) = plt.subplots(1, 3, figsize=(15, 4))
    _layer_plot(ax_std, models, "act_std")
    ax_std.set(
        ylabel="std of layer response", title="Layer responses (dashed: init, solid: trained)"
    )
    _layer_plot(ax_w, models, "weight_std")
    ax_w.set(ylabel="std of layer weights", title="Weight std (dashed: init, solid: trained)")
    for i, m in enumerate(models):
        d = m.get("diagnosis") or {}
        changes = [w for w in d.get("weight_change", []) if not is_shortcut_label(w["name"])]
        if changes:
            ax_dw.plot(
                range(1, len(changes) + 1),
                [w["rel_change"] or float("nan") for w in changes],
                color=_color(i),
                marker="o",
                ms=3,
                label=m["label"],
            )
    ax_dw.set_yscale("log")
    ax_dw.set(
        xlabel="layer (forward order; last = fc)",
        ylabel="||W_end - W_0|| / ||W_0||",
        title="Relative weight change by training",
    )
    ax_dw.grid(alpha=0.3, which="both")
    ax_dw.legend(fontsize=7)
    fig.tight_layout()
    return fig


def prediction_histograms(models: list[dict[str, Any]], classes: list[str]) -> Figure:
    """Predicted-class histogram on the fixed test batch, at init vs after training, one panel per model."""
    with_diag = [m for m in models if m.get("diagnosis")]
    fig, axes = plt.subplots(
        1, max(1, len(with_diag)), figsize=(3.8 * max(1, len(with_diag)), 3.4), squeeze=False
    )
    for ax, m in zip(axes[0], with_diag):
        preds = m["diagnosis"]["predictions"]
        x = range(len(classes))
        width = 0.4
        for j, (phase, label) in enumerate((("init", "init"), ("final", "trained"))):
            if phase in preds:
                p = preds[phase]
                total = sum(p["pred_hist"])
                lo, hi = (
                    f"{v:.3f}" if v is not None else "nan"
                    for v in (p["softmax_min"], p["softmax_max"])
                )
                ax.bar(
                    [k + (j - 0.5) * width for k in x],
                    [100 * h / total for h in p["pred_hist"]],
                    width,
                    label=f"{label}: softmax {lo}-{hi}",
                    color=_color(j * 2),
                    alpha=0.8,
                )
        ax.set_xticks(list(x), [c[:5] for c in classes], rotation=60, fontsize=7)
        ax.set(title=m["label"], ylabel="% of predictions")
        ax.legend(fontsize=6)
    fig.suptitle("Predicted classes on the fixed test batch (legend: softmax range)", fontsize=10)
    fig.tight_layout()
    return fig


def degradation_curves(runs: list[dict[str, Any]]) -> Figure:
    """He et al. Figure 6 analogue: training error (solid; the clean error on the fixed training
    sample where measured, else the running error) and validation error (dashed) against
    iterations, one panel per family, one colour per depth, mean over seeds with a ±std band."""
    families = [f for f in ("plain", "resnet") if any(r["family"] == f for r in runs)]
    depths = sorted({r["depth"] for r in runs})
    clean = all("train_clean" in e for r in runs for e in r["history"])
    train_split = "train_clean" if clean else "train"
    fig, axes = plt.subplots(
        1, len(families), figsize=(5.5 * len(families), 4), squeeze=False, sharey=True
    )
    for ax, family in zip(axes[0], families):
        for depth in depths:
            hs = [r["history"] for r in runs if r["family"] == family and r["depth"] == depth]
            if not hs or not all(hs):
                continue
            c = _color(depths.index(depth))
            n = min(len(h) for h in hs)
            steps = [hs[0][i]["step"] for i in range(n)]
            for split, style in ((train_split, "-"), ("val", "--")):
                _, mean, std = _mean_band(hs, split, "acc")
                err = [100 - m for m in mean]
                ax.plot(
                    steps,
                    err,
                    style,
                    color=c,
                    lw=2 if style == "-" else 1,
                    label=f"{family}-{depth} (n={len(hs)})" if style == "-" else None,
                )
                if len(hs) > 1:
                    ax.fill_between(
                        steps,
                        [e - s for e, s in zip(err, std)],
                        [e + s for e, s in zip(err, std)],
                        color=c,
                        alpha=0.15,
                    )
        ax.set(title=f"{family} nets", xlabel="iterations", ylabel="error (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    what = "clean training error" if clean else "running training error"
    fig.suptitle(
        # Two lines: one line is wider than a single-family (one-panel) figure.
        f"{what.capitalize()} (solid) and validation error (dashed),\n"
        "mean ± std over seeds; He et al. Fig. 6 style",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def responses_by_depth(runs: list[dict[str, Any]]) -> Figure:
    """He et al. Figure 7 analogue: std of each layer's response (after BN, before addition/ReLU) of
    the trained nets, by layer index, one line per family and depth (first seed)."""
    fig, ax = plt.subplots(figsize=(8, 4))
    seen = set()
    depths = sorted({r["depth"] for r in runs})
    for r in runs:
        key = (r["family"], r["depth"])
        d = r.get("diagnosis")
        if key in seen or not d or "final" not in d["layer_response"]:
            continue
        seen.add(key)
        names = d["layer_response"]["names"]
        stds = [
            s
            for n, s in zip(names, d["layer_response"]["final"])
            if not is_shortcut_label(n) and not n.startswith("fc")
        ]
        ax.plot(
            range(1, len(stds) + 1),
            stds,
            "-" if r["family"] == "resnet" else "--",
            color=_color(depths.index(r["depth"])),
            label=f"{r['family']}-{r['depth']}",
        )
    ax.set(
        xlabel="layer index (convs, forward order)",
        ylabel="std of layer response",
        title="Layer responses of the trained nets (dashed: plain, solid: residual)",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


OUTCOME_MARKS = {"failed": "✗", "diverged": "D", "error": "E", "mixed": "~"}
VERDICT_MARKS = {
    "vanishing gradients": "v",
    "exploding gradients": "^",
    "dead units": "d",
    "non-finite output": "x",
}


# The outcome predicted at initialisation (diagnostics/predict.py), with "!" where it differs from
# what happened ("will not train" against learned, or "trains" against failed / diverged).
PREDICTION_MARKS = {"stays at ln C": "→s", "diverges": "→D", "trains": ""}


def _cell_text(s: dict[str, Any]) -> str:
    acc = "" if s.get("best_val_acc") is None else f"{s['best_val_acc'][0]:.0f}"
    mark = OUTCOME_MARKS.get(s["outcome"], "")
    verdicts = "".join(
        VERDICT_MARKS.get(v, "?") for v in s.get("verdicts_init") or [] if v and v != "healthy"
    )
    predicted = "".join(PREDICTION_MARKS.get(p, "?") for p in s.get("predicted_init") or [])
    wrong = "!" if s.get("mispredicted") else ""
    return " ".join(p for p in (acc, mark, verdicts, predicted + wrong) if p)


def grid_heatmap(
    summary: list[dict[str, Any]], axes: list[dict[str, Any]], num_classes: int = 10
) -> Figure:
    """The grid's phase diagram: mean best validation accuracy per cell, one panel per optimiser
    (when optim.name is an axis key), rows = depth (else the first axis), columns = every combination
    of the remaining axes. Cells carry the accuracy, an outcome mark and an init-verdict mark."""
    import numpy as np

    from .grid_conclusions import axis_keys, grid_layout, settings_key, settings_label

    lay = grid_layout(axes)
    keys = axis_keys(axes)
    by = {settings_key(s["settings"], keys): s for s in summary}
    chance = 100 / num_classes
    accs = [s["best_val_acc"][0] for s in summary if s.get("best_val_acc") is not None]
    vmax = max([chance + 1] + accs)
    n_p, n_r, n_c = len(lay["panels"]), len(lay["rows"]), len(lay["columns"])
    stacked = n_p > 1 and n_p * n_c > 12  # wide grids: panels above each other, not side by side
    cell_w, cell_h = 0.62, 0.42
    col_labels = [settings_label(c) or "all" for c in lay["columns"]]
    row_labels = [settings_label(r) or "all" for r in lay["rows"]]
    label_h = 0.075 * max(len(l) for l in col_labels) + 0.4
    label_w = 0.075 * max(len(l) for l in row_labels) + 0.6
    panel_w, panel_h = max(3.0, cell_w * n_c + label_w), max(1.6, cell_h * n_r + label_h + 0.5)
    grid = (n_p, 1) if stacked else (1, n_p)
    fig, panels = plt.subplots(
        *grid,
        figsize=(panel_w * grid[1] + 1.4, panel_h * grid[0] + 1.0),
        squeeze=False,
        layout="constrained",
    )
    cmap = plt.get_cmap("viridis").with_extremes(bad="white")
    im = None
    for ax, panel in zip(panels.flat, lay["panels"]):
        values = np.full((n_r, n_c), np.nan)
        for i, row in enumerate(lay["rows"]):
            for j, col in enumerate(lay["columns"]):
                s = by.get(settings_key({**panel, **row, **col}, keys))
                if s is None:
                    continue
                if s.get("best_val_acc") is not None:
                    values[i, j] = s["best_val_acc"][0]
                else:  # ran but has no accuracy (every seed raised): light grey, still marked
                    ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, color="#dddddd", zorder=2))
                frac = 0.0 if np.isnan(values[i, j]) else (values[i, j] - chance) / (vmax - chance)
                ax.text(
                    j,
                    i,
                    _cell_text(s),
                    ha="center",
                    va="center",
                    fontsize=7,
                    zorder=3,
                    color="black" if frac > 0.6 or np.isnan(values[i, j]) else "white",
                )
        im = ax.imshow(
            np.ma.masked_invalid(values), cmap=cmap, vmin=chance, vmax=vmax, aspect="auto"
        )
        ax.set_xticks(
            range(n_c), col_labels, rotation=40, ha="right", rotation_mode="anchor", fontsize=7
        )
        ax.set_yticks(range(n_r), row_labels, fontsize=7)
        ax.set_xticks([x - 0.5 for x in range(1, n_c)], minor=True)
        ax.set_yticks([y - 0.5 for y in range(1, n_r)], minor=True)
        ax.grid(which="minor", color="white", lw=1.5)
        ax.tick_params(which="minor", length=0)
        ax.set_title(settings_label(panel) if panel else "all runs", fontsize=9)
        ax.set_ylabel(" / ".join(lay["row_keys"]), fontsize=8)
    cb = fig.colorbar(im, ax=panels.ravel().tolist(), shrink=0.9, pad=0.02)
    cb.set_label(f"mean best val acc (%), from chance {chance:g}", fontsize=8)
    cb.ax.tick_params(labelsize=7)
    fig.suptitle("Grid phase diagram: mean best validation accuracy per cell", fontsize=10)
    fig.supxlabel(
        "marks: "
        + ", ".join(f"{m} {o}" for o, m in OUTCOME_MARKS.items())
        + " (no mark: learned in every seed)\ngradients at init: "
        + ", ".join(f"{m} {v}" for v, m in VERDICT_MARKS.items())
        + "\npredicted at init: "  # its own line: on one line the legend outgrew the figure
        + ", ".join(f"{m} {o}" for o, m in PREDICTION_MARKS.items() if m)
        + ", ! a run mispredicted"
        + " · grey: ran but no accuracy · blank: not run",
        fontsize=7,
    )
    return fig


def plateau_survival(groups: list[Any], num_classes: int) -> Figure:
    """The fraction of each group's runs still at ln C against optimiser steps (Kaplan-Meier, a
    censored run marked with a cross at its last step); ``groups``: survival.Escapes."""
    # The legend goes below the axes: with many cells it would hide the curves inside them.
    fig, ax = plt.subplots(figsize=(8, 4.2 + 0.2 * len(groups)))
    styles = ("-", "--", ":", "-.")
    for i, g in enumerate(groups):
        steps, alive = g.curve()
        if not steps:
            continue
        # Colours repeat after len(COLORS) cells; the line style tells those apart.
        style = styles[(i // len(COLORS)) % len(styles)]
        ax.step(steps, alive, where="post", color=_color(i), ls=style, label=f"{g.label} (n={g.n})")
        # Each censored run is a cross at its last step, at the curve's height there.
        for s in g.censored:
            height = next(a for x, a in zip(reversed(steps), reversed(alive)) if x <= s)
            ax.plot([s], [height], "x", color=_color(i), markersize=8)
    ax.set_xlabel("optimiser step")
    ax.set_ylabel(f"fraction of runs still at ln {num_classes}")
    ax.set_ylim(-0.03, 1.05)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(0, -0.15), frameon=False)
    ax.set_title(f"Time to leave ln {num_classes} (x: run stopped while still there)", fontsize=10)
    fig.tight_layout()
    return fig
