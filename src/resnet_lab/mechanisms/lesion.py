"""Lesion study (Veit, Wilber & Belongie 2016, "Residual networks behave like ensembles of relatively
shallow networks"): delete blocks of a *trained* net at test time and measure accuracy.

A residual block is deleted by keeping only its shortcut (the identity, or the projection / zero-pad
shortcut where the block changes shape, as Veit et al. do for downsampling blocks). Blocks are those
the model's traced graph shows (``models/residual_graph.py``): resnet-lab's ``ResidualBlock``, and
equally torchvision's ``BasicBlock`` / ``Bottleneck`` or a block of your own (``x + self.f(x)``). A plain layer or
plain block is replaced by the identity where its input and output shapes agree; layers that change
the shape (the stem conv, stage changes) cannot be deleted, and the result says so. Besides single
deletions, k of the n deletable units are deleted together (k = 1..n, several random draws).
Veit et al.'s finding for ResNets: single deletions barely hurt (except downsampling blocks) and
accuracy degrades smoothly with k; for a plain net (VGG) deleting any layer drops it to chance.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import statistics
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from ..models.layers import ConvUnit, PadShortcut, ResidualBlock
from ..models.residual_graph import Block, residual_blocks
from .common import by_depth, evaluate

TITLE = "Lesion study (Veit et al. 2016)"
DEFAULT_SUBSET = 1000  # validation images; 1.5 points of binomial standard error at 50 % accuracy
DRAWS = 5  # random draws of k deleted units for each k (all subsets when there are fewer)


def _graph_blocks(model: nn.Module) -> dict[str, list[Block]]:
    """Owner -> its residual additions, for the blocks found in the graph that are not resnet-lab's
    own ``ResidualBlock`` (those keep their stand-in below). The model itself is never a unit: it
    cannot be swapped for a stand-in inside itself."""
    found: dict[str, list[Block]] = {}
    for block in residual_blocks(model).blocks:
        if block.owner and not isinstance(model.get_submodule(block.owner), ResidualBlock):
            found.setdefault(block.owner, []).append(block)
    return found


def units_of(model: nn.Module) -> list[str]:
    """The deletable candidates: resnet-lab's plain layers and (plain or residual) blocks, and the
    residual blocks the traced graph shows in a model of any other origin."""
    graph = _graph_blocks(model)
    blocks = {n for n, m in model.named_modules() if isinstance(m, ResidualBlock)} | set(graph)
    return [
        name
        for name, m in model.named_modules()
        if (isinstance(m, (ConvUnit, ResidualBlock)) or name in graph) and not _inside(name, blocks)
    ]


def _inside(name: str, blocks: set[str]) -> bool:
    parts = name.split(".")
    return any(".".join(parts[:i]) in blocks for i in range(1, len(parts)))


class ShortcutOnly(nn.Module):
    """Stands in for a residual block whose forward is not resnet-lab's ``ResidualBlock``: runs the
    block with each residual branch's output replaced by zeros, so it computes
    ``post(shortcut(x) + 0)``. Zeroing the branch, rather than rebuilding the block around its
    shortcut, keeps whatever the block's own forward does after the addition (torchvision's ReLU,
    a scaling) without having to know it; the branch is still computed, which only costs time."""

    def __init__(self, block: nn.Module, outputs: tuple[str, ...]):
        super().__init__()
        self.block = block
        self.outputs = outputs  # the modules (relative to the block) whose outputs are zeroed

    def forward(self, *args, **kwargs):
        hooks = [
            self.block.get_submodule(name).register_forward_hook(_zeros) for name in self.outputs
        ]
        try:
            return self.block(*args, **kwargs)
        finally:
            for h in hooks:
                h.remove()


def _zeros(module, inputs, output) -> torch.Tensor:
    return torch.zeros_like(output)  # a forward hook's return value replaces the module's output


def _graph_replacement(
    name: str, block: nn.Module, adds: list[Block]
) -> tuple[nn.Module | None, str]:
    """The stand-in for a block found in the graph (not a ``ResidualBlock``), and how to say it."""
    if any(b.branch_output is None for b in adds):
        return None, "a residual branch that does not end in a module called once"
    outputs = tuple(b.branch_output.removeprefix(f"{name}.") for b in adds)
    kind = "identity shortcut" if all(not b.shortcut for b in adds) else "projection shortcut"
    return ShortcutOnly(block, outputs), kind


def _shapes(model: nn.Module, names: list[str], x: torch.Tensor) -> dict[str, tuple[tuple, tuple]]:
    seen: dict[str, tuple[tuple, tuple]] = {}

    def record(name: str):
        def hook(
            module, inputs, output
        ) -> None:  # returns None: a forward hook's value would replace the output
            seen.setdefault(name, (tuple(inputs[0].shape[1:]), tuple(output.shape[1:])))

        return hook

    hooks = [model.get_submodule(n).register_forward_hook(record(n)) for n in names]
    try:
        with torch.inference_mode():
            model(x[:2])
    finally:
        for h in hooks:
            h.remove()
    return seen


def replacement(
    module: nn.Module, shapes: tuple[tuple, tuple] | None
) -> tuple[nn.Module | None, str]:
    """What stands in for a deleted unit, and how to say it; (None, why not) if it cannot be deleted."""
    if isinstance(module, ResidualBlock) and module.skip:
        # The block computes relu_out(shortcut(x) + branch(x)); deleting the branch leaves
        # relu_out(shortcut(x)). For an identity shortcut after a ReLU that is x itself; for a
        # projection (with its bias or BN) the ReLU matters.
        kind = {nn.Identity: "identity shortcut", PadShortcut: "zero-pad shortcut"}.get(
            type(module.shortcut), "projection shortcut"
        )
        return nn.Sequential(module.shortcut, module.relu_out), kind
    if shapes is None:
        return None, "not reached by the forward pass"
    (cin, *hw_in), (cout, *hw_out) = shapes
    if shapes[0] == shapes[1]:
        return nn.Identity(), "identity"
    what = (
        f"{cin}->{cout} channels"
        if cin != cout
        else f"{'x'.join(map(str, hw_in))}->{'x'.join(map(str, hw_out))} map"
    )
    return None, f"changes the shape ({what})"


@contextlib.contextmanager
def deleted(model: nn.Module, swaps: dict[str, nn.Module]) -> Iterator[nn.Module]:
    """``model`` with the named submodules replaced, restored afterwards (also on error)."""
    saved = {}
    for name, new in swaps.items():
        parent, _, attr = name.rpartition(".")
        owner = model.get_submodule(parent) if parent else model
        saved[name] = (owner, attr, getattr(owner, attr))
        setattr(owner, attr, new)
    try:
        yield model
    finally:
        for owner, attr, old in saved.values():
            setattr(owner, attr, old)


def _draws(n: int, k: int, draws: int, gen: torch.Generator) -> list[tuple[int, ...]]:
    if math.comb(n, k) <= draws:
        return list(itertools.combinations(range(n), k))
    picked: set[tuple[int, ...]] = set()
    while len(picked) < draws:
        picked.add(tuple(sorted(torch.randperm(n, generator=gen)[:k].tolist())))
    return sorted(picked)


def plan(
    model: nn.Module, x: torch.Tensor, units: list[str] | None = None
) -> tuple[list[dict[str, Any]], dict[str, nn.Module]]:
    """Each candidate unit (label, kind, how it is deleted or why it cannot be), and the module that
    stands in for each deletable one."""
    names = units if units is not None else units_of(model)
    known = dict(model.named_modules())
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(
            f"the model has no submodule {unknown[0]!r}; name units as model.named_modules() does"
        )
    shapes = _shapes(model, names, x)
    graph = _graph_blocks(model)
    table, swaps, counters = [], {}, {"block": 0, "layer": 0}
    for name in names:
        module = known[name]
        kind = "block" if isinstance(module, ResidualBlock) or name in graph else "layer"
        counters[kind] += 1
        shape = shapes.get(name)
        if name in graph:
            new, how = _graph_replacement(name, module, graph[name])
        else:
            new, how = replacement(module, shape)
        if new is not None:
            swaps[name] = new
        table.append(
            {
                "name": f"{kind}{counters[kind]}",
                "module": name,
                "kind": kind,
                "residual": (isinstance(module, ResidualBlock) and module.skip) or name in graph,
                "changes_shape": shape is not None and shape[0] != shape[1],
                "deletable": new is not None,
                "deleted_as": how,
            }
        )
    return table, swaps


def _why_not(table: list[dict[str, Any]]) -> str:
    return (
        "; ".join(f"{u['name']} {u['deleted_as']}" for u in table)
        or "it has no layers or blocks to delete"
    )


def work(n_deletable: int, draws: int = DRAWS) -> int:
    """Evaluations a lesion study makes (for the progress bar)."""
    return (
        1
        + n_deletable
        + sum(min(math.comb(n_deletable, k), draws) for k in range(2, n_deletable + 1))
    )


def lesion(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    units: list[str] | None = None,
    draws: int = DRAWS,
    seed: int = 0,
    batch_size: int = 500,
    bar=None,
) -> dict[str, Any]:
    """Accuracy of ``model`` (eval mode) on ``x, y`` intact, with each deletable unit deleted, and with k
    random units deleted together. ``units``: qualified module names (default: resnet-lab's layers and
    blocks, and the residual blocks the traced graph shows). Returns ``{"full_acc", "units": [...], "random": [{"k", "accs", "mean", "std"}]}``.
    Raises ValueError when no unit can be deleted."""
    model.eval()
    table, swaps = plan(model, x, units)
    deletable = [u for u in table if u["deletable"]]
    if not deletable:
        raise ValueError(f"no unit of this model can be deleted ({_why_not(table)})")

    def acc(idx: tuple[int, ...]) -> float:
        with deleted(model, {deletable[i]["module"]: swaps[deletable[i]["module"]] for i in idx}):
            value = evaluate(model, x, y, batch_size=batch_size)[1]
        if bar is not None:
            bar.update(1)
        return value

    full = acc(())
    for i, u in enumerate(deletable):
        u["acc"] = acc((i,))
        u["drop"] = full - u["acc"]
    gen = torch.Generator().manual_seed(seed)
    n = len(deletable)
    random_rows = [{"k": 1, "accs": [u["acc"] for u in deletable]}]
    for k in range(2, n + 1):
        random_rows.append({"k": k, "accs": [acc(c) for c in _draws(n, k, draws, gen)]})
    for row in random_rows:
        t = torch.tensor(row["accs"], dtype=torch.float64)
        row.update(mean=t.mean().item(), std=t.std().item() if len(t) > 1 else 0.0, draws=len(t))
    return {
        "full_acc": full,
        "units": table,
        "random": random_rows,
        "n_deletable": n,
        "draws": draws,
        "seed": seed,
        "images": len(x),
    }


def prepare(run, x: torch.Tensor, y: torch.Tensor, opts, directions=None) -> int:
    """Check that ``run``'s model has something to delete; the number of evaluations."""
    table, _ = plan(run.build("final").to(x.device), x)
    n = sum(u["deletable"] for u in table)
    if not n:
        raise ValueError(f"none of its layers or blocks can be deleted: {_why_not(table)}")
    return work(n, opts.draws)


def measure(
    run, x: torch.Tensor, y: torch.Tensor, opts, directions=None, *, bar=None, device: torch.device
) -> tuple[dict[str, Any], dict[str, Any]]:
    model = run.build("final").to(device)
    return lesion(model, x, y, draws=opts.draws, seed=opts.seed, bar=bar), {}


# --------------------------------------------------------------------------- report


def sentences(entries: list[dict[str, Any]]) -> list[str]:
    """Conclusions computed from the entries (one per model), never written in advance."""
    entries = by_depth(entries)
    out = []
    for e in entries:
        chance, full = e["chance"], e["full_acc"]
        deletable = [u for u in e["units"] if u["deletable"]]
        kept = [u for u in e["units"] if not u["deletable"]]
        kinds = {u["kind"] for u in deletable}
        what = kinds.pop() if len(kinds) == 1 else "layer or block"
        if full < chance + 5:
            out.append(
                f"{e['label']}: {full:.1f}% intact on {e['images']} validation images, within 5 points of "
                f"chance ({chance:.0f}%): too close to chance for deletions to show anything."
            )
            continue
        # Veit et al. report identity blocks and downsampling blocks apart: deleting the latter also
        # deletes the only place where the shape changes, and hurts more. Say which is which.
        reshaping = [u for u in deletable if u.get("changes_shape")]
        plain_swap = [u for u in deletable if u not in reshaping]
        at_chance = [u["name"] for u in deletable if u["acc"] < chance + 5]
        s = f"{e['label']} ({e['family']}, {full:.1f}% intact on {e['images']} validation images): "
        if plain_swap:
            worst = max(plain_swap, key=lambda u: u["drop"])
            s += (
                f"deleting any single shape-keeping {what} cost at most {worst['drop']:.1f} points "
                f"({worst['name']}; median {statistics.median([u['drop'] for u in plain_swap]):.1f} over {len(plain_swap)})"
            )
        if reshaping:
            worst = max(reshaping, key=lambda u: u["drop"])
            s += ("; " if plain_swap else "") + (
                f"deleting one of the {len(reshaping)} shape-changing blocks (kept: their {worst['deleted_as']}) cost up to "
                f"{worst['drop']:.1f} points ({worst['name']})"
            )
        s += (
            f"; {len(at_chance)} of {len(deletable)} single deletions left it within 5 points of chance."
            if at_chance
            else "; no single deletion brought it within 5 points of chance."
        )
        out.append(s)
        half = next(r for r in e["random"] if r["k"] == max(1, len(deletable) // 2))
        last = e["random"][-1]
        out.append(
            f"{e['label']}: deleting {half['k']} of {len(deletable)} at random left {half['mean']:.1f} ± "
            f"{half['std']:.1f}% ({half['draws']} draws); deleting all {last['k']} left {last['mean']:.1f}% "
            f"(chance {chance:.0f}%)."
        )
        if kept:
            out.append(
                f"{e['label']}: {len(kept)} unit(s) cannot be deleted: "
                + ", ".join(f"{u['name']} ({u['deleted_as']})" for u in kept)
                + "."
            )
    return out


def figure(entries: list[dict[str, Any]]):
    entries = by_depth(entries)
    from ..reporting.plots import _color, plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for i, e in enumerate(entries):
        deletable = [u for u in e["units"] if u["deletable"]]
        ax1.plot(
            range(1, len(deletable) + 1),
            [u["acc"] for u in deletable],
            "-",
            color=_color(i),
            label=e["label"],
        )
        for j, u in enumerate(
            deletable, 1
        ):  # squares: blocks that change shape, deleted down to their shortcut
            ax1.plot(j, u["acc"], "s" if u.get("changes_shape") else "o", color=_color(i))
        ax1.axhline(e["full_acc"], color=_color(i), lw=0.8, ls=":")
        ks = [r["k"] for r in e["random"]]
        mean = torch.tensor([r["mean"] for r in e["random"]])
        std = torch.tensor([r["std"] for r in e["random"]])
        ax2.plot([0] + ks, [e["full_acc"]] + mean.tolist(), "o-", color=_color(i), label=e["label"])
        ax2.fill_between(
            ks, (mean - std).tolist(), (mean + std).tolist(), color=_color(i), alpha=0.15
        )
    if entries:
        for ax in (ax1, ax2):
            ax.axhline(entries[0]["chance"], color="grey", lw=1, ls="--", label="chance")
    ax1.set(
        xlabel="deleted unit (deletable ones, input to output)",
        ylabel="validation accuracy (%)",
        title="One unit deleted (dotted: intact; squares: shape-changing blocks)",
    )
    ax2.set(
        xlabel="units deleted at random (k)",
        ylabel="validation accuracy (%)",
        title="k units deleted (mean ± std over draws)",
    )
    ax1.legend(fontsize=8)
    fig.tight_layout()
    return fig
