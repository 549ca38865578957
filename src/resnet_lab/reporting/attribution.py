"""Which factor two runs differ in: the guard every attribution sentence goes through.

A report may say "the skip connections made the difference" only of two runs whose resolved
settings differ in the skips and in nothing else. The settings compared are the run's saved config
(data, optimiser, training) plus its network as ``registry.architecture`` resolved it at training
time (family + every builder option), so ``resnet_seed`` and ``resnet_seed_plain`` differ in
``model.skip`` alone while ``deep_cnn`` and ``resnet_seed`` differ in the whole network.
Bookkeeping that does not change what is learned (paths, logging, the device) is not compared.
"""

from __future__ import annotations

import json
from typing import Any

from ..config import flatten  # torch-free, like everything reporting/ imports

# Config keys that do not change the experiment (where files go, what is logged, how fast it runs).
BOOKKEEPING = {
    "preset",
    "models",
    "seeds",
    "train.seed",
    "data.data_dir",
    "data.cache_dir",
    "data.download",
    "data.workers",
    "data.pipeline",
    "train.device",
    "train.eval_batch_size",
    "train.threads",
    "train.channels_last",
    "train.compile",
    "train.tensorboard",
    "train.diagnostics",
    "train.diag_every",
    "train.checkpoint_every",
    "train.amp",
}  # train.amp: compared as the precision used
IGNORED_PREFIXES = (
    "sweep.",
    "grid.",
    "model.",
)  # model.*: compared through the architecture instead

# A factor is a set of keys that may change together; the first key must be among the differences
# (a change of optimiser comes with that optimiser's own learning rate, as in every study here).
FACTORS: dict[str, tuple[str, ...]] = {
    "the skip connections": ("model.skip",),
    "the initialisation": ("model.init",),
    "the normalisation": ("model.norm",),
    "the optimiser": ("optim.name", "optim.lr", "optim.momentum"),
    "the learning rate": ("optim.lr",),
}


def run_settings(
    config: dict[str, Any], architecture: dict[str, Any], precision: str, data_source: str | None
) -> dict[str, Any]:
    """The flat settings a run is compared on: its config without bookkeeping, its network, the
    precision it actually trained in (``train.amp: auto`` is bf16 on a GPU, fp32 on a CPU) and the
    data it was loaded from (the resolved source, not the path as typed)."""
    flat = {
        k: v
        for k, v in flatten(config).items()
        if k not in BOOKKEEPING and not k.startswith(IGNORED_PREFIXES)
    }
    flat["train.precision"] = precision
    flat["data.source"] = data_source
    flat["model.family"] = architecture.get("family")
    flat.update({f"model.{k}": v for k, v in (architecture.get("options") or {}).items()})
    return flat


def differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Keys whose values differ (a key one side lacks counts as a difference), sorted."""
    same = lambda k: (
        json.dumps(a.get(k, "<absent>"), sort_keys=True)
        == json.dumps(b.get(k, "<absent>"), sort_keys=True)
    )
    return sorted(k for k in set(a) | set(b) if not same(k))


def isolated_factor(diffs: list[str]) -> str | None:
    """The factor a set of differences is exactly one change of, else None."""
    for name, keys in FACTORS.items():
        if diffs and keys[0] in diffs and set(diffs) <= set(keys):
            return name
    return None


def describe(a: dict[str, Any], b: dict[str, Any], keys: list[str], limit: int = 4) -> str:
    """``model.family deep_cnn vs resnet_seed, train.epochs 8 vs 20`` (at most ``limit`` keys)."""

    def text(side: dict[str, Any], k: str) -> str:
        if k not in side:
            return "(no such option)"
        v = side[k]
        return json.dumps(v) if isinstance(v, bool) or v is None else str(v)

    parts = [f"{k} {text(a, k)} vs {text(b, k)}" for k in keys[:limit]]
    return ", ".join(parts) + (f" and {len(keys) - limit} more" if len(keys) > limit else "")
