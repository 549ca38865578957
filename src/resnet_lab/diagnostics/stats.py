"""Pure statistics on tensors and on recorded layer lists; no hooks, no models, no I/O."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, TypedDict

import torch

from ..models.paths import is_shortcut_label


class ResponseStats(TypedDict):
    act_mean: float  # the layer's response (pre-activation: after its BN, before the ReLU)
    act_std: float
    # Mean cosine between two different images' responses (mean-field theory's c12): 1 when every
    # image looks the same to the layers above (input_correlation); None with one image.
    input_corr: float | None


class LayerStats(ResponseStats):
    """One weight layer in one probe (diagnostics.jsonl, diagnosis.json ``probe.<phase>.layers``)."""

    name: str  # conv1 ... / proj1 ... (shortcuts, models/paths.py) / fc
    module: str  # qualified module name, e.g. features.3.conv2
    relu_std: float | None  # std of the ReLU output that follows (None: no ReLU follows)
    relu_centred_std: float | None  # the same with each channel's own mean removed (relu_stats)
    dead_frac: float | None  # channels of that ReLU output that are 0 on the whole batch
    back_signal: float | None  # RMS over the batch of each example's ||dL/d response||
    normalised: bool  # a normalisation (BN) directly follows: the layer is scale-invariant
    weight_norm: float
    weight_std: float
    weight_rms: float  # ||W|| / sqrt(number of weights)
    grad_norm: float
    grad_to_weight: float


class DepthFit(TypedDict):
    """A signal fitted as exponential in depth over the main path's conv layers (verdict.py)."""

    gain: float  # chi: the factor per layer, in the direction named by the caller
    depth_scale: float  # xi = 1 / |ln chi| layers (inf for chi = 1): e-fold change per xi layers
    change: float  # chi ** (layers - 1): the fitted change over the whole path
    layers: int  # how many layers the fit used


class Verdict(TypedDict, total=False):
    verdict: str  # vanishing gradients | exploding gradients | dead units | healthy
    evidence: list[str]  # sentences with the numbers that decided it
    first_to_last: float  # first main-path layer's gradient norm / the largest of the last two
    backward: DepthFit | None  # the backward signal, per layer toward the input
    forward: DepthFit | None  # the ReLU output std, per layer toward the output
    # The input correlation at the path's first and last layer and 1 - c's fit toward the output
    # (verdict.correlation_fit): {"first", "last", "one_minus": DepthFit}; evidence, not a rule.
    correlation: dict[str, Any] | None
    large_steps: list[str]  # layers whose first SGD step lr*||grad W||/||W|| exceeds STEP_BOUND


class Diagnosis(TypedDict, total=False):
    """What ``diagnose`` returns and diagnosis.json holds (docs/diagnostics.md)."""

    model: str
    model_options: dict[str, Any]
    params: int
    num_classes: int
    classes: list[str]
    probe: dict[str, dict[str, Any]]  # phase (init | final) -> {"loss", "layers": [LayerStats]}
    verdict: dict[str, Verdict]  # phase -> verdict
    prediction: dict[
        str, Any
    ]  # at init, given the optimiser: predict.predict's outcome and reasons
    predictions: dict[str, dict[str, Any]]  # phase -> softmax summary and predicted-class histogram
    layer_response: dict[str, list[Any]]  # names, and per phase the response std per layer
    prediction_shift: float  # total variation between init and final predictions
    weight_change: list[dict[str, Any]]  # [{"name", "rel_change"}]
    finding: dict[str, Any]  # {"finding", "text"}


# Images whose pairwise correlation is measured: 64 give 2,016 pairs (the mean of cosines to about
# two decimals) for a Gram matrix that costs little beside the probe's own forward pass.
CORR_IMAGES = 64


def response_stats(t: torch.Tensor) -> ResponseStats:
    """Mean and std of a layer's response (its pre-activation), and the correlation between
    different images' responses (:func:`input_correlation`)."""
    return {**moments(t), "input_corr": input_correlation(t)}


def moments(t: torch.Tensor) -> dict[str, float]:
    """Mean and std of a response over every element (``act_mean``, ``act_std``)."""
    t = t.detach().float()
    return {"act_mean": t.mean().item(), "act_std": t.std().item()}


def input_correlation(t: torch.Tensor, images: int = CORR_IMAGES) -> float | None:
    """The mean cosine between two different images' representations at one layer (each image's
    whole output, flattened), over every pair among the first ``images`` of the batch: mean-field
    theory's correlation map c12 = q12 / sqrt(q11 q22) measured (Poole et al. 2016; Schoenholz et
    al. 2017). Depth drives it toward 1 in a net that maps every input to the same point, so the
    classifier cannot tell images apart even where the std stays healthy. An image whose
    representation is all zero has no direction: its cosines count as 0. None with one image."""
    x = t.detach().float()[:images].flatten(1)
    n = x.shape[0]
    if n < 2:
        return None
    unit = x / x.norm(dim=1, keepdim=True).clamp_min(torch.finfo(x.dtype).tiny)
    gram = unit @ unit.T
    mean = ((gram.sum() - gram.diagonal().sum()) / (n * (n - 1))).item()
    return min(mean, 1.0)  # identical images give 1 + rounding in float32


def relu_stats(t: torch.Tensor) -> dict[str, float]:
    """Std and dead fraction of a ReLU's output: ``dead_frac`` is the fraction of channels (dim 1:
    conv channels or linear features) that are 0 for every example and position in the batch, so
    they pass no signal forward and no gradient back, whatever the input. ``relu_centred_std`` is
    the std with each channel's mean over the batch and positions removed, i.e. the root of the mean
    per-channel variance: a constant offset per channel (a bias the ReLU passes) carries no
    information about the image but counts in ``relu_std``; it does not count here."""
    t = t.detach().float()
    channels = t.transpose(0, 1).reshape(t.shape[1], -1)  # (C, N*H*W)
    dead = (channels.amax(dim=1) <= 0).float().mean()
    centred = channels.var(dim=1, unbiased=False).mean().sqrt()
    return {
        "relu_std": t.std().item(),
        "relu_centred_std": centred.item(),
        "dead_frac": dead.item(),
    }


def depth_fit(values: Sequence[float]) -> DepthFit | None:
    """Least-squares fit of log(value) against the position in ``values`` (in the direction the
    caller ordered them): the gain per layer chi, the depth scale xi = 1/|ln chi| (Schoenholz et
    al. 2017: a signal changes e-fold every xi layers) and the fitted change over all of them. None
    with fewer than 3 finite positive values (a zero is handled by the caller: no signal at all)."""
    ys = [math.log(v) for v in values if finite(v) and v > 0]
    if len(ys) < 3 or len(ys) < len(values):
        return None
    n = len(ys)
    mx, my = (n - 1) / 2, sum(ys) / n
    slope = sum((i - mx) * (y - my) for i, y in enumerate(ys)) / sum(
        (i - mx) ** 2 for i in range(n)
    )
    return {
        "gain": math.exp(slope),
        "depth_scale": math.inf if slope == 0 else 1 / abs(slope),
        "change": math.exp(slope * (n - 1)),
        "layers": n,
    }


def ratio(num: float, den: float) -> float:
    """num / den, with 0/0 = nan and x/0 = inf (JSON writers turn these into null)."""
    if den == 0:
        return math.nan if num == 0 else math.inf
    return num / den


def relative_change(before: torch.Tensor, after: torch.Tensor) -> float:
    """||after - before|| / ||before||."""
    return ratio((after.float() - before.float()).norm().item(), before.float().norm().item())


def softmax_summary(logits: torch.Tensor, num_classes: int) -> dict[str, Any]:
    """Softmax range and predicted-class histogram of a batch of logits."""
    probs = logits.float().softmax(dim=1)
    pred = probs.argmax(dim=1)
    hist = torch.bincount(pred, minlength=num_classes).tolist()
    return {
        "softmax_min": probs.min().item(),
        "softmax_max": probs.max().item(),
        "pred_hist": hist,
        "top_class_share": max(hist) / len(pred),
    }


def total_variation(p_logits: torch.Tensor, q_logits: torch.Tensor) -> float:
    """Mean total-variation distance between two batches' softmax outputs (0 = identical, 1 = disjoint)."""
    p, q = p_logits.float().softmax(1), q_logits.float().softmax(1)
    return 0.5 * (p - q).abs().sum(dim=1).mean().item()


def finite(x: float) -> bool:
    return x is not None and math.isfinite(x)


def jsonable(obj: Any) -> Any:
    """Replace nan/inf by None so the result is strict JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    return obj


def first_to_last_ratio(
    layers: Sequence[dict[str, Any]], key: str = "grad_norm", last_k: int = 2
) -> float:
    """The first weight layer's ``key`` divided by the largest of the last ``last_k`` layers'.

    Compares where the gradient arrives last (the input side) with where it starts (the output side),
    as the seed did with conv1 vs conv10. Projection shortcuts are left out: they are not on the
    plain path whose depth is in question.
    """
    main = [l for l in layers if not is_shortcut_label(l["name"])]
    # A stored probe writes a non-finite value as None (jsonable): no ratio then, as for NaN.
    if len(main) < 2 or not all(finite(l[key]) for l in [main[0], *main[-last_k:]]):
        return math.nan
    first = main[0][key]
    late = max(l[key] for l in main[-last_k:])
    return ratio(first, late)
