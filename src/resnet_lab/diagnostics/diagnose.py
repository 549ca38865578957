"""The seed-style analysis of one model: predictions, per-layer statistics, weight change, verdicts.

``diagnose`` takes the initial and (optionally) the trained weights of a registered model plus the
data, and returns one JSON-able dict (the format of a run's ``diagnosis.json``, documented in
docs/diagnostics.md); ``format_diagnosis`` renders it as text.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..data import Batches, DataSplits, ImageTensors
from ..errors import UserError
from ..registry import architecture, create_model
from ..train import main_path_depth
from .hooks import measure_layers, weight_change
from .predict import HIT_RATE_TEXT, FirstSteps, Probe, predict
from .stats import Diagnosis, jsonable, softmax_summary, total_variation
from .verdict import change_finding, gradient_verdict

PROBE_SIZE = (
    256  # images in the fixed gradient-probe batch (training split) and prediction batch (test)
)
PROBE_SEED = 0  # the same images for every model and every run
CPU = torch.device("cpu")


def fixed_batch(
    split: ImageTensors,
    data: DataSplits,
    n: int = PROBE_SIZE,
    seed: int = PROBE_SEED,
    device: torch.device = CPU,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded, unaugmented, normalised batch of ``n`` images from ``split``."""
    idx = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))[:n]
    batches = Batches(split.subset(idx), batch_size=n, mean=data.mean, std=data.std, device=device)
    return next(iter(batches))


def _predictions(
    model: nn.Module, x: torch.Tensor, num_classes: int
) -> tuple[torch.Tensor, dict[str, Any]]:
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        logits = model(x).float()
    model.train(was_training)
    summary = softmax_summary(logits, num_classes)
    summary.update(
        logits_head=logits[:2].tolist(),
        softmax_head=logits[:2].softmax(1).tolist(),
        pred_head=logits.argmax(1)[:16].tolist(),
    )
    return logits, summary


def build(
    name: str, options: dict[str, Any], state_dict: dict[str, torch.Tensor] | None = None
) -> nn.Module:
    model = create_model(name, **options)
    if state_dict is not None:
        try:
            model.load_state_dict(state_dict)
        except RuntimeError as exc:
            first = str(exc).splitlines()[0]
            raise UserError(
                f"the checkpoint's weights do not fit model {name!r} ({first}); "
                "pass a checkpoint of that model"
            ) from None
    return model


def diagnose_states(
    name: str,
    options: dict[str, Any],
    data: DataSplits,
    *,
    init_state: dict[str, torch.Tensor] | None = None,
    final_state: dict[str, torch.Tensor] | None = None,
    device: torch.device = CPU,
    optim: Mapping[str, Any] | None = None,
    probe_images: int = PROBE_SIZE,
) -> Diagnosis:
    """Analyse model ``name`` at initialisation and, if ``final_state`` is given, after training.

    ``init_state`` None means a fresh model built now (seeded by the caller). ``optim``: the
    config's optim section (a mapping: name, lr, momentum, warmup_lr, warmup_min_depth), whose
    first steps (predict.FirstSteps.of) the predicted outcome and, under SGD, the flag on layers
    whose steady step would exceed their weight (verdict.py) are judged for.
    """
    init = build(name, options, init_state).to(device)
    final = build(name, options, final_state).to(device) if final_state is not None else None
    return analyse_models(
        init,
        final,
        data,
        device=device,
        name=name,
        options=architecture(name, options)["options"],  # every option, defaults filled in
        optim=optim,
        probe_images=probe_images,
    )


def check_probe_images(n: int, data: DataSplits) -> None:
    """The probe batch must be a positive number of images the training split has."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise UserError(f"--probe-images must be a positive whole number of images, got {n!r}")
    if n > len(data.train):
        raise UserError(
            f"--probe-images {n} is more than the {len(data.train):,} training images; "
            f"pass --probe-images {min(PROBE_SIZE, len(data.train))} or fewer"
        )


def analyse_models(
    init: nn.Module,
    final: nn.Module | None,
    data: DataSplits,
    *,
    device: torch.device = CPU,
    name: str = "",
    options: dict[str, Any] | None = None,
    optim: Mapping[str, Any] | None = None,
    probe_images: int = PROBE_SIZE,
) -> Diagnosis:
    """The analysis of any module before (``init``) and, if given, after training (``final``), both
    already on ``device``; leaves their parameters, gradients, buffers and modes as they were.
    With ``optim`` (a config's optim section), the optimiser's first steps on ``init`` are judged:
    the predicted outcome (predict.py) and, under SGD, the large-step flag and the function step."""
    steps = FirstSteps.of(optim, main_path_depth(init)) if optim is not None else None
    sgd = {"lr": steps.lr, "momentum": steps.momentum} if steps and steps.optimizer == "sgd" else {}
    x, y = fixed_batch(data.train, data, n=probe_images, device=device)  # all, if fewer
    xt, _ = fixed_batch(data.test, data, device=device)
    phases: dict[str, nn.Module] = {"init": init}
    if final is not None:
        phases["final"] = final

    out: dict[str, Any] = {
        "model": name or type(init).__name__,
        "model_options": options or {},
        "params": sum(p.numel() for p in init.parameters()),
        "num_classes": data.num_classes,
        "classes": data.classes,
        "probe_images": len(y),
        "prediction_images": len(xt),
        "data": data.source,
        "probe": {},
        "verdict": {},
        "predictions": {},
    }
    logits = {}
    for phase, model in phases.items():
        p = measure_layers(model, x, y)
        # The logits' scale: their std over the probe batch and classes (a net that starts far from
        # ln C starts with large logits; issue 34's classifier-init question).
        out["probe"][phase] = {
            "loss": p["loss"],
            "logit_std": float(p["logits"].float().std()),
            "layers": p["layers"],
        }
        out["verdict"][phase] = gradient_verdict(p["layers"], p["loss"], data.num_classes, **sgd)
        if phase == "init" and steps is not None:
            out["prediction"] = predict(Probe(p["layers"], p["loss"], data.num_classes, steps))
        logits[phase], out["predictions"][phase] = _predictions(model, xt, data.num_classes)
    layers = out["probe"]["init"]["layers"]
    out["layer_response"] = {
        "names": [l["name"] for l in layers],
        **{ph: [l["act_std"] for l in out["probe"][ph]["layers"]] for ph in phases},
    }
    out["backward_signal"] = {
        ph: [l["back_signal"] for l in out["probe"][ph]["layers"]] for ph in phases
    }
    if sgd:
        out["function_step"] = function_step(init, x, y, xt, sgd["lr"])
    if "final" in phases:
        out["prediction_shift"] = total_variation(logits["init"], logits["final"])
        out["weight_change"] = weight_change(
            init.state_dict(), phases["final"].state_dict(), layers
        )
        out["finding"] = change_finding(out["weight_change"], out["prediction_shift"])
    return jsonable(out)


def function_step(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, probe_x: torch.Tensor, lr: float
) -> dict[str, float]:
    """How far one plain SGD step of ``lr`` on the batch (x, y) moves the network's function: the
    RMS change of the logits on ``probe_x`` (eval mode), beside their RMS before the step. The
    first step of SGD with momentum is this same step. In the standard parameterisation (PyTorch's
    default init) a wider net at the same lr takes a larger step in function space (each unit
    sums more weight changes), the mechanism tested for the seed's width dependence (docs/results.md).
    The change is reported whole and centred over the probe images (the input-dependent part).
    Works on a copy: ``model`` is left as it was."""
    import copy

    twin = copy.deepcopy(model)
    twin.eval()
    with torch.inference_mode():
        before = twin(probe_x).float()
    twin.train()
    twin.zero_grad(set_to_none=True)
    torch.nn.functional.cross_entropy(twin(x).float(), y).backward()
    with torch.no_grad():
        for p in twin.parameters():
            if p.grad is not None:
                p.add_(p.grad, alpha=-lr)
    twin.eval()
    with torch.inference_mode():
        after = twin(probe_x).float()
    rms = lambda t: t.pow(2).mean().sqrt().item()
    # Centred over the images: the part that differs between inputs. A shift shared by every image
    # (e.g. the output bias's step) leaves the loss at ln C; leaving it needs this part to grow.
    centred = lambda t: t - t.mean(0, keepdim=True)
    return {
        "lr": lr,
        "logit_change_rms": rms(after - before),
        "logit_rms": rms(before),
        "input_dependent_change_rms": rms(centred(after - before)),
        "input_dependent_rms": rms(centred(before)),
    }


def problem_summary(d: dict[str, Any]) -> str:
    """One clause for the results table's problem column, from a diagnosis."""
    v = d["verdict"]
    parts = [f"gradients at init: {v['init']['verdict']} ({v['init']['evidence'][0]})"]
    if "final" in v and v["final"]["verdict"] != v["init"]["verdict"]:
        parts.append(f"after training: {v['final']['verdict']}")
    if d.get("finding", {}).get("finding") == "weights effectively unchanged":
        parts.append("weights and predictions effectively unchanged")
    return "; ".join(parts)


def _f4(v: float | None) -> str:
    return "nan" if v is None else f"{v:.4f}"  # None: a non-finite number in the stored JSON


def _vec(values: list[float | None], k: int = 5) -> str:
    shown = ", ".join(_f4(v) for v in values[:k])
    return f"[{shown}{', ...' if len(values) > k else ''}]"


def _g(x: float | None) -> str:
    return "-" if x is None else f"{x:.2g}"


def _corr(x: float | None) -> str:  # near 1 is where it matters: 0.9990 and 0.99999 differ
    return "-" if x is None else f"{x:.4f}"


def format_diagnosis(d: dict[str, Any], labels: dict[str, str] | None = None) -> str:
    """Text in the spirit of the seed's hand analysis."""
    labels = labels or {}
    classes = d["classes"]
    lines = [
        (
            f"{d['model']}, {d['params']:,} parameters. Gradient probe: {d['probe_images']} fixed training images; "
            f"predictions: {d['prediction_images']} fixed test images ({d['data']})"
        ),
        "",
    ]
    titles = {"init": "At initialisation", "final": "After training"}
    for phase, pred in d["predictions"].items():
        hist = pred["pred_hist"]
        top = max(range(len(hist)), key=hist.__getitem__)
        probe = d["probe"].get(phase, {})
        lines += [
            f"{titles[phase]}{labels.get(phase, '')}:",
            f"  Loss (probe batch):    {_f4(probe['loss'])} (ln {d['num_classes']} = "
            f"{math.log(d['num_classes']):.4f}); logit std {_f4(probe.get('logit_std'))}"
            if "loss" in probe
            else "  Loss (probe batch):    not recorded",
            f"  Raw logits (image 0):  {_vec(pred['logits_head'][0])}",
            f"  Softmax (image 0):     {_vec(pred['softmax_head'][0])}",
            f"  Softmax range:         {_f4(pred['softmax_min'])}-{_f4(pred['softmax_max'])} over the test batch",
            f"  Predicted classes:     {pred['pred_head']}",
            f"  Most predicted class:  {top} ({classes[top]}) for {pred['top_class_share']:.0%} of the images",
        ]
    if "prediction_shift" in d:
        lines.append(
            f"Prediction shift init -> trained: {_f4(d['prediction_shift'])} (mean total variation)"
        )
    phases = list(d["probe"])
    changes = {w["name"]: w["rel_change"] for w in d.get("weight_change", [])}
    # "std" is the layer's response (activation) std; "W std" its weights' (the seed's 0.11 -> 0.012
    # are weight stds, which every init lowers with fan-in; the response std is what shows a collapse).
    cols = [  # (heading, key): per phase
        ("std", "act_std"),
        ("ReLU std", "relu_std"),
        ("c-std", "relu_centred_std"),
        ("corr", "input_corr"),
        ("signal", "back_signal"),
        ("grad", "grad_norm"),
        ("g/w", "grad_to_weight"),
    ]
    head = (
        f"{'layer':8s}"
        + f"{'W std init':>11s}"
        + "".join(f"{f'{h} {ph}':>{len(h) + 8}s}" for h, _ in cols for ph in phases)
        + (f"{'W change':>10s}" if changes else "")
    )
    lines += ["", head]
    for i, layer in enumerate(d["probe"]["init"]["layers"]):
        row = [d["probe"][ph]["layers"][i] for ph in phases]
        lines.append(
            f"{layer['name']:8s}"
            + f"{_g(layer.get('weight_std')):>11s}"
            + "".join(
                f"{(_corr if k == 'input_corr' else _g)(r.get(k)):>{len(h) + 8}s}"
                for h, k in cols
                for r in row
            )
            + (f"{_g(changes.get(layer['name'])):>10s}" if changes else "")
        )
    legend = (
        "(std: the layer's response before its ReLU; ReLU std: after it; c-std: the same with each "
        "channel's mean removed; corr: mean cosine between two images' responses; signal: RMS over "
        "the batch of each image's ||dL/d response||; grad: ||dL/dW||; g/w: ||dL/dW|| / ||W||)"
    )
    lines += [legend, ""]
    for phase, v in d["verdict"].items():
        lines.append(f"Verdict {titles[phase].lower()}: {v['verdict']}")
        lines += [f"  - {e}" for e in v["evidence"]]
        for what, fit in (("backward signal", v.get("backward")), ("ReLU std", v.get("forward"))):
            if fit:
                toward = "the input" if what.startswith("back") else "the output"
                lines.append(
                    f"  {what}: x{fit['gain']:.3g} per layer toward {toward}, depth scale "
                    f"{fit['depth_scale']:.3g} layers, x{fit['change']:.3g} over {fit['layers']} layers"
                )
        if corr := v.get("correlation"):
            fit = corr["one_minus"]
            lines.append(
                f"  inputs' correlation: {_corr(corr['first'])} -> {_corr(corr['last'])} along the path "
                f"(1 - c x{fit['gain']:.3g} per layer toward the output, depth scale "
                f"{fit['depth_scale']:.3g} layers)"
            )
    if pred := d.get("prediction"):
        lines.append(f"Predicted at initialisation under {pred['optimizer']}: {pred['text']}")
        lines += [f"  - {r}" for r in pred["reasons"]]
        if pred.get("largest_steps"):
            lines.append(
                "  steady first step / weight, largest: "
                + ", ".join(
                    f"{s['name']} {s['step']:.3g}"
                    + (" (normalised: exempt)" if s["normalised"] else "")
                    for s in pred["largest_steps"]
                )
            )
        lines.append(f"  (the rules: docs/diagnostics.md, 'Predicted outcome'; {HIT_RATE_TEXT})")
    if "function_step" in d:
        f = d["function_step"]
        lines.append(
            f"One SGD step of lr {f['lr']:g} at initialisation moves the test batch's logits by "
            f"RMS {f['logit_change_rms']:.3g} (their RMS: {f['logit_rms']:.3g}); the part that differs "
            f"between images by RMS {f['input_dependent_change_rms']:.3g} (its RMS: "
            f"{f['input_dependent_rms']:.3g})"
        )
    if "finding" in d:
        lines.append(f"Finding: {d['finding']['text']}")
    return "\n".join(lines)


def find_initial_checkpoint(path: Path) -> Path | None:
    """The run's epoch-0 checkpoint beside ``path`` (same checkpoints/ folder), if it exists."""
    candidate = Path(path).parent / "epoch0000.pt"
    return candidate if candidate.is_file() else None
