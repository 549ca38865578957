"""Issue 34, step 4: the budget series as docs/degradation.md shows it, from the decision files that
benchmarks/budget_queue.sh keeps (``it<N>-decision.json`` per budget, ``it<N>-final.json`` with the
plain pair at the final budget; budget_decision.py's output): a Markdown table (budget, the
resnet-56 - resnet-20 gap per seed, its paired 95 % interval, the verdict; then the plain pair and
the depth x skip interaction where measured) and, with ``--figure PNG``, the per-seed gaps and
their interval against the budget beside the 2-point margin.

    python benchmarks/budget_series.py docs/measurements/budget/it*-{decision,final}.json [--figure docs/budget-series.png]
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from resnet_lab.reporting.conclusions import NO_WORSE_MARGIN


def load(files: list[Path]) -> dict[int, dict]:
    """Decision by budget (iterations, from the file name); a budget's final file (with the plain
    pair) replaces its decision file, which holds the same residual numbers."""
    series: dict[int, dict] = {}
    for f in sorted(files, key=lambda p: p.name.endswith("-final.json")):
        match = re.match(r"it(\d+)-(decision|final)\.json$", f.name)
        if match is None:
            raise SystemExit(
                f"{f}: not a budget decision file (it<N>-decision.json or it<N>-final.json)"
            )
        series[int(match.group(1))] = json.loads(f.read_text())
    return dict(sorted(series.items()))


def _ci(gap: dict) -> str:
    if gap.get("low") is None:
        return "no interval (fewer than 3 seeds)"
    return f"{gap['estimate']:+.2f}, 95 % CI {gap['low']:+.2f} to {gap['high']:+.2f}"


def markdown(series: dict[int, dict]) -> str:
    lines = [
        "| iterations | seeds | resnet-56 − resnet-20 per seed (points) | mean, paired 95 % CI | verdict |",
        "|---:|---|---|---|---|",
    ]
    for it, d in series.items():
        per_seed = " / ".join(f"{g:+.2f}" for g in d.get("gap_per_seed", {}).values()) or "–"
        seeds = ", ".join(map(str, d["seeds"])) or "–"
        ci = _ci(d["gap"]) if "gap" in d else d["text"]
        lines.append(f"| {it:,} | {seeds} | {per_seed} | {ci} | {d['verdict']} |")
    for it, d in series.items():
        if "plain" in d:
            p, i = d["plain"], d["interaction"]
            per_seed = " / ".join(f"{g:+.2f}" for g in p["gap_per_seed"].values())
            lines += [
                "",
                (
                    f"At {it:,} iterations, plain-56 − plain-20 per seed: {per_seed} points; "
                    f"{_ci(p['gap'])} (paired over seeds {', '.join(map(str, p['seeds']))}): "
                    f"degradation {p['degradation']}. Depth × skip interaction, {i['what']}: "
                    f"{_ci(i['gap'])}: {i['verdict']}."
                ),
            ]
    return "\n".join(lines)


def _panel(ax, gaps: dict[int, dict], ylabel: str) -> None:
    """Per-seed gaps (dots) and their mean with the paired 95 % interval (bar), by budget."""
    for it, d in gaps.items():
        per_seed = list(d.get("gap_per_seed", {}).values())
        ax.scatter([it] * len(per_seed), per_seed, color="tab:blue", s=14, alpha=0.6)
        gap = d.get("gap") or {}
        if gap.get("low") is not None:
            ax.errorbar(
                it,
                gap["estimate"],
                yerr=[[gap["estimate"] - gap["low"]], [gap["high"] - gap["estimate"]]],
                fmt="o",
                color="black",
                capsize=4,
            )
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xscale("log", base=2)
    ax.set_xlim(min(gaps) / 1.5, max(gaps) * 1.5)  # a series of one budget is not at an edge
    ax.set_xticks(list(gaps), [f"{it:,}" for it in gaps])
    ax.set_xlabel("iterations")
    ax.set_ylabel(ylabel)


def figure(series: dict[int, dict], path: Path, margin: float) -> None:
    """The residual gap against the margin; beside it, where measured, the plain pair's gap (the
    first half), on its own axis since it is tens of points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plain = {it: d["plain"] for it, d in series.items() if "plain" in d}
    fig, axes = plt.subplots(1, 2 if plain else 1, figsize=(10 if plain else 6, 3.6), squeeze=False)
    ax = axes[0][0]
    _panel(ax, series, "resnet-56 − resnet-20\nclean training error (points)")
    ax.axhline(margin, color="tab:red", ls="--", lw=0.8, label=f"+{margin:g}-point margin")
    ax.set_title("per seed (dots), mean with paired 95 % CI (bars)", fontsize=9)
    ax.legend(fontsize=8)
    if plain:
        _panel(axes[0][1], plain, "plain-56 − plain-20\nclean training error (points)")
        axes[0][1].set_title("the plain pair at the final budget", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    args = sys.argv[1:]
    png = None
    if "--figure" in args:
        at = args.index("--figure")
        png = Path(args[at + 1])
        del args[at : at + 2]
    if not args:
        sys.exit("usage: budget_series.py DECISION.json [...] [--figure PNG]")
    series = load([Path(a) for a in args])
    print(markdown(series))
    if png is not None:
        figure(series, png, NO_WORSE_MARGIN)
