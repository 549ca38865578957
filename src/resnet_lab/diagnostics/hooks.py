"""Collectors: forward hooks for layer responses, gradient/weight norms, and the training callback.

Every hook is registered inside a context manager and removed on exit, also on error, so a model
leaves a diagnostic pass exactly as it entered it (no hooks left behind, no BN statistics changed).

Layer names follow forward order: ``conv1, conv2, ...`` for convolutions on the main path,
``proj1, ...`` for 1x1 projection shortcuts, ``fc`` for the linear head (``fc1, fc2`` if several).
A layer's *response* is its output after the BatchNorm that directly follows it, if any, else the
conv/linear output itself: the pre-activation, as in He et al. 2015 Figure 7.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from ..files import append_text
from ..models.paths import SHORTCUT_LABEL, on_shortcut, shortcut_modules
from ..train import Callback, TrainState
from .stats import (
    CORR_IMAGES,
    LayerStats,
    input_correlation,
    jsonable,
    moments,
    ratio,
    relu_stats,
    response_stats,
)

if TYPE_CHECKING:
    from typing_extensions import (
        Self,  # typing.Self needs Python 3.11; annotations are not evaluated
    )

WEIGHT_TYPES = (nn.Conv2d, nn.Linear)
NORM_TYPES = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm)  # incl. SyncBatchNorm


class ResponseRecorder:
    """Context manager: per weight layer, the statistics of every forward pass inside it.

    * the layer's *response* (its output, or the output of the BatchNorm right after it): mean, std;
    * the *ReLU output* that follows it (the next ``nn.ReLU`` module, attributed to the latest
      main-path weight layer before it): its std (``relu_std``) and dead channels (``dead_frac``).
      A residual branch's last conv gets the ReLU after the addition (the block's output units);
      layers no ReLU of their own follows (the logits, projections, a branch's last conv when the
      block has no ReLU after its addition) get ``None``: they have no units that can die;
    * the *backward signal* at the response, when a backward pass follows (``back_signal``, set by a
      tensor hook): the RMS over the batch of each example's gradient norm ||dL_i/dh||, i.e.
      sqrt(B) ||dL/dh|| for a mean-reduced loss, so it does not depend on the batch size.
    """

    def __init__(self, model: nn.Module):
        self.model = model
        self.handles: list[Any] = []
        self.order: list[nn.Module] = []  # weight layers in the order they first ran
        self.stats: dict[nn.Module, dict[str, Any]] = {}
        self._qualified = {m: n for n, m in model.named_modules()}
        self._shortcuts = shortcut_modules(model)
        # The weight layer that ran last, with a copy of its output's first images, while no other
        # leaf module has run since.
        self._pending: tuple[nn.Module, torch.Tensor] | None = None
        self._awaiting_relu: list[nn.Module] = []
        self._tensor_hooks: dict[nn.Module, Any] = {}

    def _watch_gradient(self, module: nn.Module, output: torch.Tensor) -> None:
        old = self._tensor_hooks.pop(module, None)
        if old is not None:
            old.remove()  # a BN right after the conv: its output is the response now
        if not (isinstance(output, torch.Tensor) and output.requires_grad):
            return
        batch = output.shape[0]

        def record(grad: torch.Tensor) -> None:
            self.stats[module]["back_signal"] = (grad.detach().float().norm() * batch**0.5).item()

        self._tensor_hooks[module] = output.register_hook(record)

    def _hook(self, module: nn.Module, inputs, output) -> None:
        # A weight layer's input correlation waits for the next leaf: when a BN follows directly,
        # all its statistics are those of the BN's output, and the Gram matrix is computed once.
        pending, self._pending = self._pending, None
        if isinstance(module, NORM_TYPES) and pending is not None:
            self.stats[pending[0]].update(response_stats(output))  # BN right after a conv
            # Its output no longer depends on the weight's scale (predict.py's step rule).
            self.stats[pending[0]]["normalised"] = True
            self._watch_gradient(pending[0], output)
            return
        self._flush(pending)
        if isinstance(module, WEIGHT_TYPES):
            if module not in self.stats:
                self.order.append(module)
            self.stats[module] = {
                **moments(output),
                "input_corr": None,
                "relu_std": None,
                "relu_centred_std": None,
                "dead_frac": None,
                "back_signal": None,
                "normalised": False,
            }
            self._watch_gradient(module, output)
            # A copy of the images the correlation reads: an in-place op after the layer (a
            # ReLU(inplace=True), a residual `out += x`) would change the output itself before
            # the next leaf runs. Far cheaper than the Gram matrix it may save.
            self._pending = (module, output.detach()[:CORR_IMAGES].clone())
            self._awaiting_relu.append(module)
        elif isinstance(module, nn.ReLU):
            main = [
                m
                for m in self._awaiting_relu
                if not on_shortcut(self._qualified.get(m, ""), self._shortcuts)
            ]
            if main:
                self.stats[main[-1]].update(relu_stats(output))
            self._awaiting_relu.clear()

    def _flush(self, pending: tuple[nn.Module, torch.Tensor] | None) -> None:
        """The waiting weight layer's input correlation, of its own output (no BN followed)."""
        if pending is not None:
            self.stats[pending[0]]["input_corr"] = input_correlation(pending[1])

    def __enter__(self) -> Self:
        for m in self.model.modules():
            if not list(m.children()):
                self.handles.append(m.register_forward_hook(self._hook))
        return self

    def __exit__(self, exc_type, *exc) -> None:
        try:
            if exc_type is None:  # the model's last leaf was a weight layer (the logits)
                self._flush(self._pending)
        finally:
            self._pending = None
            for h in [*self.handles, *self._tensor_hooks.values()]:
                h.remove()
            self.handles.clear()
            self._tensor_hooks.clear()


def layer_names(model: nn.Module, order: list[nn.Module]) -> dict[nn.Module, tuple[str, str]]:
    """module -> (display name, qualified name), numbered in forward ``order``."""
    qualified = {m: n for n, m in model.named_modules()}
    shortcuts = shortcut_modules(model)
    linears = [m for m in order if isinstance(m, nn.Linear)]
    names, conv_i, proj_i = {}, 0, 0
    for m in order:
        q = qualified[m]
        if isinstance(m, nn.Linear):
            display = "fc" if len(linears) == 1 else f"fc{linears.index(m) + 1}"
        elif on_shortcut(q, shortcuts):
            proj_i += 1
            display = f"{SHORTCUT_LABEL}{proj_i}"
        else:
            conv_i += 1
            display = f"conv{conv_i}"
        names[m] = (display, q)
    return names


def weight_norms(module: nn.Module) -> dict[str, float]:
    w = (
        module.weight.detach().float()
    )  # one fp32 copy for both statistics (bf16 weights under autocast)
    g = module.weight.grad
    wn = w.norm().item()
    gn = g.detach().float().norm().item() if g is not None else float("nan")
    return {
        "weight_norm": wn,
        "weight_std": w.std().item(),
        # The size of a typical weight (||W|| / sqrt(n)): what Adam's step of about lr per weight
        # compares with (diagnostics/predict.py).
        "weight_rms": wn / w.numel() ** 0.5,
        "grad_norm": gn,
        "grad_to_weight": ratio(gn, wn),
    }


def _buffers(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.named_buffers()}


def measure_layers(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, Any]:
    """One forward + backward on a fixed batch in training mode; returns loss, logits and per-layer
    response statistics and gradient norms. Leaves the model's parameters, gradients, buffers
    (BN running statistics) and train/eval mode as they were."""
    was_training = model.training
    saved_buffers = _buffers(model)
    saved_grads = {p: p.grad for p in model.parameters()}
    for p in model.parameters():
        p.grad = None
    model.train()
    try:
        with ResponseRecorder(model) as rec:  # open through the backward: it records the signal
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            loss.backward()
        names = layer_names(model, rec.order)
        layers: list[LayerStats] = [
            {"name": names[m][0], "module": names[m][1], **rec.stats[m], **weight_norms(m)}
            for m in rec.order
        ]
    finally:
        for p, g in saved_grads.items():
            p.grad = g
        with torch.no_grad():
            for k, v in model.named_buffers():
                v.copy_(saved_buffers[k])
        model.train(was_training)
    return {"loss": loss.item(), "logits": logits.detach(), "layers": layers}


def weight_change(
    before: dict[str, torch.Tensor], after: dict[str, torch.Tensor], layers: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Relative change ||W_end - W_0|| / ||W_0|| of each named layer's weight."""
    from .stats import relative_change

    return [
        {
            "name": l["name"],
            "rel_change": relative_change(
                before[l["module"] + ".weight"], after[l["module"] + ".weight"]
            ),
        }
        for l in layers
    ]


def without_sync_bn(model: nn.Module) -> nn.Module:
    """``model``, or, when it holds SyncBatchNorm (torchrun --sync-bn), a copy with plain
    BatchNorm: a SyncBatchNorm forward in training mode is a collective, and only rank 0 probes."""
    if not any(isinstance(m, nn.SyncBatchNorm) for m in model.modules()):
        return model
    import copy

    plain = copy.deepcopy(model)
    for name, m in list(plain.named_modules()):
        if isinstance(m, nn.SyncBatchNorm):
            bn = nn.BatchNorm2d(m.num_features, m.eps, m.momentum, m.affine, m.track_running_stats)
            bn.load_state_dict(m.state_dict())
            parent, _, attr = name.rpartition(".")
            setattr(plain.get_submodule(parent) if parent else plain, attr, bn.to(m.weight.device))
    return plain


class DiagnosticsCallback(Callback):
    """Records layer statistics at initialisation, every ``every`` optimiser steps, and at the end.

    Writes ``diagnostics.jsonl`` in the run directory, one JSON object per record:
    ``{"phase": "init"|"train"|"final", "step", "epoch", "loss", "layers": [{"name", "module",
    "act_mean", "act_std", "dead_frac", "weight_norm", "grad_norm", "grad_to_weight",
    "update_to_weight" (train records only)}]}``. ``init`` and ``final`` are probes on the same
    fixed batch; ``train`` records use that step's own training batch.
    """

    def __init__(
        self, path: Path, probe_batch: tuple[torch.Tensor, torch.Tensor], every: int = 100
    ):
        self.path = Path(path)
        self.x, self.y = probe_batch
        self.every = every
        self._rec: ResponseRecorder | None = None
        self._before: dict[nn.Module, torch.Tensor] = {}
        self._grads: dict[nn.Module, dict[str, float]] = {}
        self.records: list[dict[str, Any]] = []

    def _write(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        append_text(self.path, json.dumps(jsonable(record)) + "\n")

    def _probe(self, state: TrainState, phase: str) -> None:
        result = measure_layers(without_sync_bn(state.model), self.x, self.y)
        self._write(
            {
                "phase": phase,
                "step": state.step,
                "epoch": state.epoch,
                "loss": result["loss"],
                "layers": result["layers"],
            }
        )

    def on_fit_start(self, state: TrainState) -> None:
        if state.step == 0:
            self._probe(state, "init")
            return
        # A resumed run has its init record already, and maybe records of steps after its last
        # checkpoint, which it will now make again: keep exactly those up to the checkpoint.
        if self.path.is_file():
            from ..files import write_text

            kept = []
            for line in self.path.read_text().splitlines():
                try:
                    record = json.loads(line)
                except ValueError:
                    continue  # a line torn by a full disk or a kill: made again below
                if record.get("step", 0) <= state.step and record.get("phase") != "final":
                    kept.append(line)
            write_text(self.path, "".join(line + "\n" for line in kept))

    def on_batch_start(self, state: TrainState) -> None:
        if self.every > 0 and (state.step + 1) % self.every == 0:
            self._rec = ResponseRecorder(state.model).__enter__()
            state.eager_step = True  # a compiled model would not call the forward hooks

    def on_after_backward(self, state: TrainState) -> None:
        if self._rec is not None:
            self._grads = {m: weight_norms(m) for m in self._rec.order}
            self._before = {m: m.weight.detach().clone() for m in self._rec.order}

    def on_batch_end(self, state: TrainState) -> None:
        if self._rec is None:
            return
        rec, self._rec = self._rec, None
        rec.__exit__(None, None, None)
        names = layer_names(state.model, rec.order)
        layers = []
        for m in rec.order:
            before = self._before[m]
            update = ratio(
                (m.weight.detach() - before).float().norm().item(), before.float().norm().item()
            )
            layers.append(
                {
                    "name": names[m][0],
                    "module": names[m][1],
                    **rec.stats[m],
                    **self._grads[m],
                    "update_to_weight": update,
                }
            )
        self._before, self._grads = {}, {}
        self._write(
            {
                "phase": "train",
                "step": state.step,
                "epoch": state.epoch,
                "loss": float(state.batch_loss),
                "layers": layers,
            }
        )

    def on_fit_end(self, state: TrainState) -> None:
        self._probe(state, "final")
