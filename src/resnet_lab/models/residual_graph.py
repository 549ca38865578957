"""Residual blocks found from the traced graph (``torch.fx``), not from module names.

A *residual addition* is an ``add`` (``x + y``, ``x += y``, ``torch.add``, ``Tensor.add``) of two
paths that start at one tensor, the block's input ``x``:

* the *shortcut*: ``x`` itself (identity), or a short chain of calls on ``x`` alone (at most
  ``MAX_SHORTCUT`` nodes: torchvision's ``downsample`` conv + BN, resnet-lab's 1x1 projection or
  zero-pad shortcut, timm's avg-pool + conv + BN);
* the *branch*: calls that depend on ``x`` and on nothing else but parameters, with at least one
  module call among them.

Of the two inputs, the one with the fewer module calls is the shortcut (the second on a tie, as
``out + shortcut(x)`` and torchvision's ``out += identity`` write it). Each block is reported by the
smallest submodule whose forward holds the addition, the branch and the shortcut (its *owner*:
``layer1.0`` in torchvision's resnet18), with the modules directly below the owner that the branch
and the shortcut call (``nn.Identity`` left out: it computes nothing). So a model of any origin
(torchvision, timm, ``out = x + self.f(x)`` in a notebook) has its blocks found the same way as
resnet-lab's own families, whose blocks are exactly their ``ResidualBlock``\\ s with ``skip``.

Where fx cannot trace a module's forward (Python control flow on tensor values), the module's children are traced one by one, and the
additions of that module's own forward are taken from the naming convention this replaces (a
``ResidualBlock`` with ``skip``, or a module with a child called ``shortcut``); the result says which
modules were read that way and why, and so does one stderr note per module (``note_once``).

This module is apart from ``paths.py`` because it needs torch, while ``paths.py`` is also read by
``reporting/``, which imports no torch; ``paths.py`` asks it for the shortcut modules of a model.
"""

from __future__ import annotations

import operator
import weakref
from dataclasses import dataclass

import torch
from torch import fx, nn

from ..errors import exception_line, note_once
from .layers import ResidualBlock

# The longest shortcut chain (in graph nodes) still taken for a shortcut rather than a branch: the
# largest of the shortcuts above is timm's avg_down (AvgPool2d, conv, BN) plus an nn.Identity.
MAX_SHORTCUT = 4

_ADD_FUNCTIONS = (operator.add, operator.iadd, torch.add)
_ADD_METHODS = ("add", "add_")


@dataclass(frozen=True)
class Block:
    """One residual addition: its owner module, and the modules on each path (qualified names)."""

    owner: str  # smallest submodule holding the addition, branch and shortcut ("" = the model)
    branch: tuple[str, ...]  # modules directly below the owner that the branch calls, in order
    shortcut: tuple[str, ...]  # likewise for the shortcut; () = identity
    # The module whose output is the branch's output, if it is a module called once in the traced
    # forward (a lesion replaces that output with zeros); None otherwise, or by the naming convention.
    branch_output: str | None = None


@dataclass(frozen=True)
class Untraced:
    """A module whose forward fx could not trace: its own additions come from the naming convention."""

    module: str  # qualified name ("" = the model)
    reason: str  # one line: the exception fx raised


@dataclass(frozen=True)
class ResidualStructure:
    """The residual blocks of a model, and the modules whose forward had to be read by name."""

    blocks: tuple[Block, ...]
    untraced: tuple[Untraced, ...] = ()

    @property
    def shortcut_modules(self) -> frozenset[str]:
        """Qualified names of the modules that lie on a shortcut."""
        return frozenset(name for b in self.blocks for name in b.shortcut)

    @property
    def owners(self) -> tuple[str, ...]:
        """Each owner once, in the order of its first block."""
        return tuple(dict.fromkeys(b.owner for b in self.blocks))


# model -> (the identity of each of its submodules, its structure): tracing takes ~0.1 s for a
# resnet110 and the diagnostics ask at every probe; a swapped submodule (a lesion) reads it afresh.
_CACHE: weakref.WeakKeyDictionary[nn.Module, tuple[tuple, ResidualStructure]] = (
    weakref.WeakKeyDictionary()
)


def residual_blocks(model: nn.Module) -> ResidualStructure:
    """The residual blocks of ``model``, found from its traced graph (see the module docstring).

    Example:
        >>> import torchvision
        >>> found = residual_blocks(torchvision.models.resnet18(num_classes=10))
        >>> len(found.blocks), found.blocks[2].owner, found.blocks[2].shortcut
        (8, 'layer2.0', ('layer2.0.downsample',))
    """
    key = tuple((name, id(m)) for name, m in model.named_modules())
    cached = _CACHE.get(model)
    if cached is not None and cached[0] == key:
        return cached[1]
    blocks: list[Block] = []
    untraced: list[Untraced] = []
    _read(model, "", blocks, untraced)
    found = ResidualStructure(tuple(blocks), tuple(untraced))
    for u in untraced:  # said once per module and reason, in one line each
        where = (
            f"module {u.module!r} of {type(model).__name__}" if u.module else type(model).__name__
        )
        note_once(
            f"{where} cannot be traced with torch.fx ({u.reason}); its own residual additions are "
            "read by the naming convention (a ResidualBlock, or a child called 'shortcut')"
        )
    _CACHE[model] = (key, found)
    return found


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix and name else prefix or name


def _read(module: nn.Module, prefix: str, blocks: list[Block], untraced: list[Untraced]) -> None:
    try:
        graph = fx.Tracer().trace(module)
    except Exception as exc:  # noqa: BLE001 - the model's own forward: any failure means "not traceable"
        untraced.append(Untraced(prefix, exception_line(exc)))
        blocks.extend(_by_convention(module, prefix))
        for name, child in module.named_children():
            _read(child, _join(prefix, name), blocks, untraced)
        return
    blocks.extend(_blocks_in(graph, module, prefix))


def _by_convention(module: nn.Module, prefix: str) -> list[Block]:
    """The block ``module``'s own forward makes by resnet-lab's naming convention, if any."""
    shortcut = getattr(module, "shortcut", None)
    is_block = (
        module.skip
        if isinstance(module, ResidualBlock)
        else isinstance(shortcut, nn.Module) and shortcut in set(module.children())
    )
    if not is_block:
        return []
    children = [(n, c) for n, c in module.named_children() if not isinstance(c, nn.Identity)]
    return [
        Block(
            owner=prefix,
            branch=tuple(_join(prefix, n) for n, c in children if n != "shortcut"),
            shortcut=tuple(_join(prefix, n) for n, c in children if n == "shortcut"),
        )
    ]


def _is_add(node: fx.Node) -> bool:
    return (node.op == "call_function" and node.target in _ADD_FUNCTIONS) or (
        node.op == "call_method" and node.target in _ADD_METHODS
    )


def _inputs(node: fx.Node) -> list[fx.Node]:
    """The tensor inputs of ``node`` (parameters and buffers, ``get_attr`` nodes, are not inputs)."""
    return [n for n in node.all_input_nodes if n.op != "get_attr"]


def _shortcut_starts(end: fx.Node) -> list[tuple[fx.Node, list[fx.Node]]]:
    """Each (block input, shortcut nodes) for which ``end`` is a chain of one-input calls on it."""
    starts, chain, node = [(end, [])], [], end
    while len(chain) < MAX_SHORTCUT and node.op != "placeholder":
        inputs = _inputs(node)
        if len(inputs) != 1:
            break
        chain.append(node)
        node = inputs[0]
        starts.append((node, list(chain)))
    return starts


def _branch(end: fx.Node, start: fx.Node) -> set[fx.Node] | None:
    """The nodes from ``start`` (excluded) to ``end`` if they depend on ``start`` and on nothing else
    but parameters and constants; None otherwise."""
    seen: set[fx.Node] = set()
    todo, reached = [end], False
    while todo:
        node = todo.pop()
        if node is start:
            reached = True
            continue
        if node in seen or node.op == "get_attr":
            continue
        if node.op == "placeholder":
            return None  # reaches the traced module's input other than through the block's input
        seen.add(node)
        todo.extend(node.all_input_nodes)
    return seen if reached else None


def _stack(node: fx.Node) -> list[str]:
    """The modules (qualified, relative to the traced one) whose forward ``node`` ran in, outer first."""
    return [name for name, _ in node.meta.get("nn_module_stack", {}).values()]


def _modules_below(nodes: list[fx.Node], depth: int, root: nn.Module) -> tuple[str, ...]:
    names = []
    for node in nodes:
        stack = _stack(node)
        if len(stack) > depth and not isinstance(root.get_submodule(stack[depth]), nn.Identity):
            names.append(stack[depth])
    return tuple(dict.fromkeys(names))


def _length(chain: list[fx.Node], root: nn.Module) -> int:
    """The calls of a shortcut chain that compute something (an ``nn.Identity`` call does not)."""
    return sum(
        not (n.op == "call_module" and isinstance(root.get_submodule(n.target), nn.Identity))
        for n in chain
    )


def _blocks_in(graph: fx.Graph, root: nn.Module, prefix: str) -> list[Block]:
    order = {node: i for i, node in enumerate(graph.nodes)}
    calls: dict[str, int] = {}
    for node in graph.nodes:
        if node.op == "call_module":
            calls[node.target] = calls.get(node.target, 0) + 1
    found = []
    for add in filter(_is_add, graph.nodes):
        if len(add.args) < 2 or not all(isinstance(a, fx.Node) for a in add.args[:2]):
            continue  # x + 1: not an addition of two paths
        best = None
        for rank, (short_end, branch_end) in enumerate((add.args[:2][::-1], add.args[:2])):
            for start, chain in _shortcut_starts(short_end):
                branch = _branch(branch_end, start)
                if not branch or branch & set(chain):
                    continue
                if not any(n.op == "call_module" for n in branch):
                    continue  # x + x * 2: no branch of layers
                candidate = (_length(chain, root), rank, chain, branch, branch_end)
                if best is None or candidate[:2] < best[:2]:
                    best = candidate
        if best is None:
            continue
        _, _, chain, branch, branch_end = best
        members = [add, *chain, *branch]
        stacks = [_stack(n) for n in members]
        depth = 0
        while all(len(s) > depth and s[depth] == stacks[0][depth] for s in stacks):
            depth += 1
        owner = stacks[0][depth - 1] if depth else ""
        ordered = sorted(branch, key=order.__getitem__)
        ends_in_module = branch_end.op == "call_module" and calls[branch_end.target] == 1
        found.append(
            Block(
                owner=_join(prefix, owner),
                branch=tuple(_join(prefix, n) for n in _modules_below(ordered, depth, root)),
                shortcut=tuple(_join(prefix, n) for n in _modules_below(chain[::-1], depth, root)),
                branch_output=_join(prefix, branch_end.target) if ends_in_module else None,
            )
        )
    return found
