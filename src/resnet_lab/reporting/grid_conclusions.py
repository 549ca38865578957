"""Conclusion sentences of a grid report, computed from grid.json; nothing is written in advance.

A grid (grid.json) crosses axes of settings; an axis may set several keys jointly. Its heat map has
one panel per optimiser (when optim.name is an axis key), one row per value of the depth axis and
one column per combination of the remaining axes. The helpers below are shared with the plot.
"""

from __future__ import annotations

import json
import math
from typing import Any

from ..inference import MIN_N, RULE, Difference, fisher_counts, logrank, seed_difference
from ..outcome import Outcome
from ..spread import mean_std
from .survival import Escapes, escapes

SEED_SETTING = {
    "model.skip": False,
    "model.norm": "none",
    "model.init": "default",
    "optim.name": "sgd",
}
_SHORT_VALUES = {
    ("model.norm", "batch"): "BN",
    ("model.norm", "none"): "no norm",
    ("model.init", "default"): "default init",
    # Precision: "off" alone would not say what is off.
    ("train.amp", "off"): "fp32",
    ("train.amp", "auto"): "amp auto",
}


def _predicted_and_judged(r: dict[str, Any]) -> bool:
    """A run with a prediction at init and an outcome (not an error) to hold it against."""
    return bool(r.get("predicted_init")) and r.get("outcome") in (
        Outcome.LEARNED,
        Outcome.FAILED,
        Outcome.DIVERGED,
    )


def _said_bad(r: dict[str, Any]) -> bool:  # predicted to stay at ln C or to diverge
    return r["predicted_init"] != "trains"


def _was_bad(r: dict[str, Any]) -> bool:  # failed or diverged
    return r["outcome"] != Outcome.LEARNED


def _mispredicted(r: dict[str, Any]) -> bool:
    """The prediction at init said "will not train" and the run learned, or the reverse."""
    return _predicted_and_judged(r) and _said_bad(r) != _was_bad(r)


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per cell, in grid order: outcomes over seeds and the mean +- std of the accuracies."""
    cells: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        cells.setdefault(r["cell"], []).append(r)
    out = []
    for cell, rs in cells.items():
        ok = [r for r in rs if r["outcome"] != Outcome.ERROR]
        outcomes = {
            k: sum(r["outcome"] == k for r in rs)
            for k in (Outcome.LEARNED, Outcome.FAILED, Outcome.DIVERGED, Outcome.ERROR)
        }
        passed = [r["threshold_step"] for r in ok if r.get("threshold_step") is not None]
        escaped = escapes(cell, ok)
        out.append(
            {
                "cell": cell,
                "settings": rs[0]["settings"],
                "seeds": [r["seed"] for r in rs],
                "outcomes": outcomes,
                "outcome": rs[0]["outcome"] if len({r["outcome"] for r in rs}) == 1 else "mixed",
                "best_val_acc": mean_std([r["best_val_acc"] for r in ok]),
                # Per seed, for the differences between cells (inference.seed_difference).
                "best_val_by_seed": {r["seed"]: r["best_val_acc"] for r in ok},
                "test_acc": mean_std([r["test_acc"] for r in ok]),
                "threshold_step": mean_std([float(s) for s in passed]),
                "passed": len(passed),
                "verdicts_init": sorted({r["verdict_init"] for r in ok}),
                # The outcomes predicted at initialisation (diagnostics/predict.py; absent in rows
                # from before it) and how many runs came out otherwise.
                "predicted_init": sorted(
                    {r["predicted_init"] for r in ok if r.get("predicted_init")}
                ),
                "mispredicted": sum(_mispredicted(r) for r in ok),
                "left_ln": sum(bool(r.get("left_ln")) for r in ok),
                # When each run left ln C (escape.py): steps of those that did, last steps of those
                # that did not (censored); rows from before it was recorded are in neither.
                "escape_steps": list(escaped.left),
                "censored_at": list(escaped.censored),
            }
        )
    return out


# Above this many cells only pairs with the first cell get an escape sentence (a product grid has
# many single-setting pairs; a list of controls has few).
ESCAPE_PAIRS_MAX_CELLS = 12


def cell_escapes(cell: dict[str, Any]) -> Escapes:
    """A cell's escape steps (its grid.json summary), labelled by its settings."""
    return Escapes(
        settings_label(cell["settings"]),
        tuple(cell.get("escape_steps") or ()),
        tuple(cell.get("censored_at") or ()),
    )


def _escape_verdict(ref: Escapes, other: Escapes, num_classes: int) -> str:
    """What a pair of cells that differ in one setting shows about leaving ln C (the rules of
    :func:`escape_sentences`)."""
    if not other.left and not ref.left:
        return f"no run of either cell left ln {num_classes}: no difference shown"
    if not other.left and len(ref.left) == ref.n:
        return _whether(ref, other, "every run of the first left", "none of these")
    if not ref.left and len(other.left) == other.n:
        return _whether(other, ref, "no run of the first left", "every one of these")
    if other.censored or ref.censored or not (other.left and ref.left):
        return "not shown either way (the runs of a cell differ among themselves)"
    if min(len(other.left), len(ref.left)) < 2:
        return "a difference in when it leaves is not shown (one escape in a cell: no spread)"
    if max(other.left) < min(ref.left) or min(other.left) > max(ref.left):
        side = "earlier" if max(other.left) < min(ref.left) else "later"
        return f"changes when it leaves ({side}; the escape steps do not overlap)"
    return "a difference in when it leaves is not shown (the escape steps overlap)"


# A run stopped while still at ln C says only "not by this step": when it stopped within this
# factor of the latest escape of the cell that left, a later escape is not ruled out, and it is said.
CENSORING_MARGIN = 2.0


def _whether(left: Escapes, stayed: Escapes, left_text: str, stayed_text: str) -> str:
    """A difference in whether the runs left, stated as what was observed and within what budget:
    'decides' is never said (a censored run may leave later)."""
    latest, budget = max(left.left), min(stayed.censored)
    text = (
        f"{left_text} (the latest at step {latest:,}), {stayed_text} by step {budget:,}; "
        "a difference in whether it leaves, within this budget"
    )
    if budget < CENSORING_MARGIN * latest:
        text += (
            f" (the budget is under {CENSORING_MARGIN:g}x the latest escape, so a later escape is "
            "not ruled out)"
        )
    return text


def escape_sentences(summary: list[dict[str, Any]], num_classes: int) -> list[str]:
    """When runs left ln C: the first cell (the study's reference), then every pair of cells that
    differ in one setting alone (only pairs with the first cell in grids of more than
    ESCAPE_PAIRS_MAX_CELLS cells): whether that setting changed if, and when, the runs left. A
    difference in *whether* is said only when every run of one cell left and none of the other's;
    a difference in *when* only when each cell has two or more escapes and their ranges do not
    overlap."""
    cells = [c for c in summary if c.get("escape_steps") or c.get("censored_at")]
    if not cells or cells[0] is not summary[0]:
        return []
    out = [
        f"Reference for the escape from ln {num_classes}: {cell_escapes(cells[0]).label}: {cell_escapes(cells[0]).text()}."
    ]
    firsts = cells if len(summary) <= ESCAPE_PAIRS_MAX_CELLS else cells[:1]
    for i, a in enumerate(firsts):
        for b in cells[i + 1 :]:
            changed = [k for k in a["settings"] if b["settings"].get(k) != a["settings"].get(k)]
            if len(changed) != 1:
                continue
            key = changed[0]
            ref, other = cell_escapes(a), cell_escapes(b)
            what = f"{key} {value_text(a['settings'][key])} → {value_text(b['settings'][key])}"
            # Another network differs in every layer it does not share: never a single factor.
            equal = (
                "a different network, not one factor" if key == "grid.model" else "all else equal"
            )
            what += f" ({equal}" + ("" if i == 0 else f"; from {ref.label}") + ")"
            n = f"n = {other.n} vs {ref.n}"
            n += "; a single seed is not a rate" if min(other.n, ref.n) < 2 else ""
            verdict = _escape_verdict(ref, other, num_classes)
            out.append(f"{what}: {other.text()}; {verdict} ({n}; {_escape_tests(ref, other)}).")
    return out


def _escape_tests(ref: Escapes, other: Escapes) -> str:
    """The tests behind a pair's escape sentence: Fisher's exact test on how many runs left, and
    the log-rank test on the (censored) escape steps where each cell has enough runs."""
    counts = fisher_counts(len(ref.left), ref.n, len(other.left), other.n).text("left")
    if min(ref.n, other.n) < MIN_N:
        return counts
    if not ref.left and not other.left:  # no event on either side: the test has nothing to compare
        return f"{counts}; no log-rank test (no run of either cell left)"
    p = logrank(ref.left, ref.censored, other.left, other.censored)
    if math.isnan(p):  # every run at risk left at each escape step: the statistic is 0 / 0
        return (
            f"{counts}; no log-rank test (undefined: every run of both cells left at the same step)"
        )
    return f"{counts}; log-rank test on the escape steps p = {p:.2g}"


def setting_label(key: str, value: Any) -> str:
    """One setting, compact: ``no skip``, ``BN``, ``kaiming``, ``depth20``."""
    name = key.rsplit(".", 1)[-1]
    if isinstance(value, bool):
        return name if value else f"no {name}"
    if (key, value) in _SHORT_VALUES:
        return _SHORT_VALUES[(key, value)]
    if isinstance(value, (int, float)):
        return f"{name} {value:g}"
    return "none" if value is None else str(value)


def settings_label(settings: dict[str, Any], keys: list[str] | None = None) -> str:
    keys = list(settings) if keys is None else keys
    # An unset option (None: the net has no such option) is left out, as in the cell's name.
    return ", ".join(setting_label(k, settings[k]) for k in keys if settings.get(k) is not None)


def value_text(value: Any) -> str:
    """A setting's value as a sentence names it: ``false``, ``kaiming``, ``20``."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def settings_key(settings: dict[str, Any], keys: list[str]) -> tuple[str, ...]:
    """Hashable identity of a cell on ``keys`` (JSON text, so True and 1 stay different)."""
    return tuple(json.dumps(settings.get(k), sort_keys=True) for k in keys)


def axis_keys(axes: list[dict[str, Any]]) -> list[str]:
    return [k for a in axes for k in a["keys"]]


def grid_layout(axes: list[dict[str, Any]]) -> dict[str, Any]:
    """Which axis gives the panels (the one holding optim.name), the rows (the one holding
    model.depth, else the first other axis) and the columns (every combination of the rest).
    Each of ``panels``, ``rows``, ``columns`` is a list of partial settings dicts."""

    def holding(key):
        return next((i for i, a in enumerate(axes) if key in a["keys"]), None)

    def values(i):
        return [dict(zip(axes[i]["keys"], v)) for v in axes[i]["values"]]

    panel_i, row_i = holding("optim.name"), holding("model.depth")
    if row_i is None:
        row_i = next((i for i in range(len(axes)) if i != panel_i), panel_i)
    if row_i == panel_i:
        panel_i = None
    rest = [i for i in range(len(axes)) if i not in (panel_i, row_i)]
    columns: list[dict[str, Any]] = [{}]
    for i in rest:
        columns = [{**c, **v} for c in columns for v in values(i)]
    return {
        "panel_keys": axes[panel_i]["keys"] if panel_i is not None else [],
        "row_keys": axes[row_i]["keys"] if row_i is not None else [],
        "column_keys": [k for i in rest for k in axes[i]["keys"]],
        "panels": values(panel_i) if panel_i is not None else [{}],
        "rows": values(row_i) if row_i is not None else [{}],
        "columns": columns,
    }


def cell_class(s: dict[str, Any]) -> str:
    """learned (every seed) | failed (every seed failed or diverged) | error (every seed raised) | mixed."""
    o, n = s["outcomes"], sum(s["outcomes"].values())
    if n and o.get(Outcome.LEARNED, 0) == n:
        return Outcome.LEARNED
    if n and o.get(Outcome.FAILED, 0) + o.get(Outcome.DIVERGED, 0) == n:
        return Outcome.FAILED
    if n and o.get(Outcome.ERROR, 0) == n:
        return Outcome.ERROR
    return "mixed"


def outcome_text(s: dict[str, Any]) -> str:
    if s["outcome"] != "mixed":
        return s["outcome"]
    return "mixed (" + ", ".join(f"{v} {k}" for k, v in s["outcomes"].items() if v) + ")"


def _ms(ms, unit: str = "%") -> str:
    if ms is None:
        return "n/a"
    mean, std = ms
    return f"{mean:.1f}{unit}" if std is None else f"{mean:.1f} ± {std:.1f}{unit}"


def _depth_sentences(summary: list[dict[str, Any]], axes: list[dict[str, Any]]) -> list[str]:
    lay = grid_layout(axes)
    keys = axis_keys(axes)
    if "model.depth" not in lay["row_keys"]:
        return []
    by = {settings_key(s["settings"], keys): s for s in summary}
    out = []
    for panel in lay["panels"]:
        for col in lay["columns"]:
            cells = []
            for row in lay["rows"]:
                s = by.get(settings_key({**panel, **row, **col}, keys))
                if s is not None:
                    cells.append((s["settings"]["model.depth"], s))
            if not cells:
                continue
            cells.sort(key=lambda c: c[0])
            who = (
                settings_label(col) + (f" with {settings_label(panel)}" if panel else "")
                if col
                else f"With {settings_label(panel)}"
                if panel
                else "The net"
            )
            cls = {d: cell_class(s) for d, s in cells}
            learned = [(d, s) for d, s in cells if cls[d] == Outcome.LEARNED]
            failed = [(d, s) for d, s in cells if cls[d] == Outcome.FAILED]
            tried = ", ".join(str(d) for d, _ in cells)
            if learned and len(learned) == len(cells):
                text = (
                    f"{who}: learned at every depth tried ({tried}); best val "
                    + ", ".join(f"{_ms(s['best_val_acc'])} at {d}" for d, s in cells)
                    + "."
                )
            elif failed and len(failed) == len(cells):
                text = f"{who}: failed at every depth tried ({tried})."
            else:
                parts = []
                if learned:
                    d, s = learned[-1]
                    parts.append(
                        f"deepest depth at which it learned in every seed: {d} (best val {_ms(s['best_val_acc'])})"
                    )
                else:
                    parts.append("it learned in every seed at no depth tried")
                if failed:
                    d, s = failed[0]
                    parts.append(
                        f"shallowest at which it failed: {d} (best val {_ms(s['best_val_acc'])})"
                    )
                else:
                    parts.append("it failed at no depth tried")
                if learned and failed and learned[-1][0] > failed[0][0]:
                    parts.append("so the outcome is not monotone in depth")
                other = [
                    f"{outcome_text(s)} at {d}"
                    for d, s in cells
                    if cls[d] in (Outcome.MIXED, Outcome.ERROR)
                ]
                if other:
                    parts.append("; ".join(other))
                text = f"{who}: " + "; ".join(parts) + f" (depths tried: {tried})."
            out.append(text[0].upper() + text[1:])
    return out


def _differs(a: dict[str, Any], b: dict[str, Any], keys: list[str]) -> list[str]:
    """The factors in which two cells differ. A change of optimiser counts as one factor with the
    optimiser's own hyper-parameters (a study pairs each optimiser with its learning rate)."""
    diff = [k for k in keys if settings_key(a, [k]) != settings_key(b, [k])]
    if "optim.name" in diff:
        diff = ["optim.name"] + [k for k in diff if not k.startswith("optim.")]
    return diff


def _fixed_mismatch(config: dict[str, Any], keys: list[str]) -> list[str]:
    """Seed-setting keys that are not axes and are fixed at another value in the study's config."""
    out = []
    for k, want in SEED_SETTING.items():
        section, name = k.split(".", 1)
        have = (config.get(section) or {}).get(name) if isinstance(config, dict) else None
        if k not in keys and have is not None and have != want:
            out.append(f"{k} is fixed at {value_text(have)}")
    return out


def _seed_setting_sentences(
    summary: list[dict[str, Any]], axes: list[dict[str, Any]], config: dict[str, Any] | None = None
) -> list[str]:
    keys = axis_keys(axes)
    seed = {k: v for k, v in SEED_SETTING.items() if k in keys}
    if not seed:
        return []
    mismatch = _fixed_mismatch(config or {}, keys)
    if mismatch:
        return [
            f"No cell of this grid has the seed's setting ({', '.join(mismatch)}), so nothing is said about it."
        ]
    # A cell that leaves a key unset (None: the net has no such option, e.g. no skip option on a plain
    # net) matches the seed's setting on that key.
    seed_cells = [
        s
        for s in summary
        if all(
            s["settings"].get(k) is None
            or settings_key(s["settings"], [k]) == settings_key(seed, [k])
            for k in seed
        )
    ]
    name = "the seed's setting (" + settings_label(seed) + ")"
    if not seed_cells:
        return [f"No cell of this grid has {name}, so nothing is said about it."]
    by_depth = sorted(
        seed_cells,
        key=lambda c: (
            c["settings"].get("model.depth") is None,
            c["settings"].get("model.depth") or 0,
        ),
    )
    return [_seed_cell_sentence(s, name, seed, summary, keys) for s in by_depth]


def _seed_cell_sentence(
    s: dict[str, Any], name: str, seed: dict[str, Any], summary: list[dict[str, Any]], keys
) -> str:
    """What happened to one cell with the seed's setting, and what each one-setting change did."""
    depth = s["settings"].get("model.depth")
    extra = {k: v for k, v in s["settings"].items() if k not in seed and k != "model.depth"}
    where = (f"At depth {depth}" if depth is not None else "In this grid") + (
        f" with {settings_label(extra)}" if extra else ""
    )
    cls, acc = cell_class(s), _ms(s["best_val_acc"])
    if cls == Outcome.LEARNED:
        return f"{where} {name} learned in every seed (best val {acc})."
    if cls != Outcome.FAILED:
        return f"{where} {name} was {outcome_text(s)} (best val {acc})."
    neighbours = []
    for n in summary:
        differs = _differs(s["settings"], n["settings"], keys)
        if len(differs) == 1 and "model.depth" not in differs:
            neighbours.append((n, differs[0]))
    text = f"{where} {name} failed (best val {acc})"
    if not neighbours:
        return (
            text + "; no cell at this depth differs from it in exactly one setting, so no single "
            "change can be credited or blamed."
        )
    return text + "; " + "; ".join(_neighbour_parts(s, neighbours)) + "."


def _change_text(s: dict[str, Any], n: dict[str, Any], k: str) -> str:
    """``changing only <setting> from <s's value> to <n's value>`` (the optimiser with its settings)."""
    if k == "optim.name":

        def opt(c):
            extra = [
                f"{x.split('.', 1)[1]} {value_text(v)}"
                for x, v in c["settings"].items()
                if x.startswith("optim.") and x != "optim.name"
            ]
            return value_text(c["settings"][k]) + (f" ({', '.join(extra)})" if extra else "")

        return f"changing only the optimiser from {opt(s)} to {opt(n)}"
    old, new = value_text(s["settings"][k]), value_text(n["settings"][k])
    if k == "grid.model":  # another network differs in every layer: never one factor
        return f"another network ({new} instead of {old}, not one factor)"
    return f"changing only {k} from {old} to {new}"


def _val_difference(s: dict[str, Any], n: dict[str, Any]) -> Difference:
    """Best validation accuracy of cell ``n`` minus cell ``s``, over seeds (paired where both ran
    the same seeds). The report summarises the rows afresh (grid_report), so every summary it
    judges holds the per-seed values."""
    return seed_difference(s["best_val_by_seed"], n["best_val_by_seed"])


def _neighbour_parts(s: dict[str, Any], neighbours: list[tuple[dict[str, Any], str]]) -> list[str]:
    """For a failed cell ``s``: what each cell differing from it in one setting did."""
    acc = _ms(s["best_val_acc"])
    rescued, unclear, still, other = [], [], [], []
    for n, k in neighbours:
        ncls, nacc = cell_class(n), _ms(n["best_val_acc"])
        d = _val_difference(s, n) if ncls == Outcome.LEARNED else None
        if d is not None and d.shown is False:
            unclear.append(
                f"{_change_text(s, n, k)} learned in every seed but is not distinguishable from it "
                f"(best val {nacc} vs {acc}: {d.text()})"
            )
        elif d is not None and not d.shown:
            # Too few seeds for an interval: the outcome flipped, but nothing says others would agree.
            rescued.append(
                f"{_change_text(s, n, k)} makes it learn (best val {nacc} vs {acc}; {d.text()})"
            )
        elif d is not None:
            rescued.append(
                f"{_change_text(s, n, k)} rescues it (best val {nacc} vs {acc}; {d.text()})"
            )
        elif ncls == Outcome.FAILED and k != "grid.model":
            what = "the optimiser" if k == "optim.name" else k
            still.append(f"{what} to {value_text(n['settings'][k])} ({nacc})")
        else:
            other.append(f"{_change_text(s, n, k)} gives {outcome_text(n)} (best val {nacc})")
    parts = rescued + unclear + other
    if still:
        parts.append("changing only " + ", or only ".join(still) + " leaves it failing")
    return parts


def _verdict_sentences(rows: list[dict[str, Any]], max_names: int = 4) -> list[str]:
    judged = [
        r
        for r in rows
        if r.get("verdict_init")
        and r.get("outcome") in (Outcome.LEARNED, Outcome.FAILED, Outcome.DIVERGED)
    ]
    if not judged:
        return [
            (
                "No run has both a gradient verdict at initialisation and an outcome, so whether the verdict "
                "predicts the outcome cannot be said."
            )
        ]
    bad = (Outcome.FAILED, Outcome.DIVERGED)
    flagged = lambda r: r["verdict_init"] != "healthy"
    predicted = [r for r in judged if flagged(r) and r["outcome"] in bad]
    missed = [r for r in judged if not flagged(r) and r["outcome"] in bad]
    alarms = [r for r in judged if flagged(r) and r["outcome"] == Outcome.LEARNED]
    fine = [r for r in judged if not flagged(r) and r["outcome"] == Outcome.LEARNED]
    by_verdict: dict[str, int] = {}
    for r in predicted:
        by_verdict[r["verdict_init"]] = by_verdict.get(r["verdict_init"], 0) + 1
    detail = (
        ": " + ", ".join(f"{v} {k}" for k, v in sorted(by_verdict.items())) if by_verdict else ""
    )
    out = [
        f"Did the gradient verdict at initialisation predict the outcome? Of {len(judged)} runs with a verdict: "
        f"{len(predicted)} flagged and then failed or diverged (predicted{detail}), {len(missed)} judged healthy "
        f"but failed or diverged (missed), {len(alarms)} flagged but learned (false alarms), {len(fine)} healthy "
        f"and learned."
        + (
            f" {len(rows) - len(judged)} runs had no verdict or raised an error."
            if len(rows) > len(judged)
            else ""
        )
    ]

    def names(rs):
        shown = ", ".join(
            f"{r['run']} ({r['verdict_init']}, {r['outcome']})" for r in rs[:max_names]
        )
        return shown + (f" and {len(rs) - max_names} more" if len(rs) > max_names else "")

    if missed:
        out.append(f"Missed: {names(missed)}.")
    if alarms:
        out.append(f"False alarms: {names(alarms)}.")
    return out


def prediction_table(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The predicted outcome at initialisation (diagnostics/predict.py, the row's ``predicted_init``)
    against the observed one: the confusion counts, and for "will not train" (predicted to stay at
    ln C or to diverge; observed failed or diverged) the sensitivity, specificity and hit rate with
    exact intervals, and the misses. None when no run has both."""
    from ..inference import proportion

    judged = [r for r in rows if _predicted_and_judged(r)]
    if not judged:
        return None
    confusion: dict[str, dict[str, int]] = {}
    for r in judged:
        row = confusion.setdefault(r["predicted_init"], {})
        row[r["outcome"]] = row.get(r["outcome"], 0) + 1
    bad = [r for r in judged if _was_bad(r)]
    good = [r for r in judged if not _was_bad(r)]
    return {
        "runs": len(judged),
        "confusion": confusion,  # predicted -> observed -> runs
        "sensitivity": proportion(sum(map(_said_bad, bad)), len(bad)),
        "specificity": proportion(sum(not _said_bad(r) for r in good), len(good)),
        "hit_rate": proportion(sum(not _mispredicted(r) for r in judged), len(judged)),
        "misses": [r for r in judged if _mispredicted(r)],
    }


def confusion_text(confusion: dict[str, dict[str, int]], lead: str = "") -> str:
    """A prediction_table's confusion counts in words: ``{lead}trains: 4 failed, 26 learned; ...``."""
    return "; ".join(
        f"{lead}{p}: " + ", ".join(f"{n} {o}" for o, n in sorted(obs.items()))
        for p, obs in sorted(confusion.items())
    )


def _prediction_sentences(rows: list[dict[str, Any]], max_names: int = 4) -> list[str]:
    t = prediction_table(rows)
    if t is None:
        return []  # runs from before the prediction existed: the verdict sentences stand alone
    cells = confusion_text(t["confusion"], "predicted ")
    out = [
        (
            f"Did the predicted outcome at initialisation (diagnostics/predict.py) come true? Of {t['runs']} "
            f"runs: {cells}. For 'will not train': sensitivity {t['sensitivity'].text()}, specificity "
            f"{t['specificity'].text()}, hit rate {t['hit_rate'].text()} (all of this grid's runs, not a "
            "held-out part)."
        )
    ]
    if t["misses"]:
        shown = ", ".join(
            f"{r['run']} (predicted {r['predicted_init']}, {r['outcome']})"
            for r in t["misses"][:max_names]
        )
        more = len(t["misses"]) - max_names
        out.append(f"Mispredicted: {shown}" + (f" and {more} more." if more > 0 else "."))
    return out


def grid_sentences(blob: dict[str, Any]) -> list[str]:
    """Conclusions of a grid.json: totals, depth limits per setting, what rescues the seed's setting
    (single-key changes only), whether the init verdict predicted the outcome, and the seed spread."""
    summary, rows, axes = blob["summary"], blob["runs"], blob["axes"]
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
    seeds = blob.get("seeds") or sorted({r["seed"] for r in rows})
    thr = blob.get("threshold_acc")
    passed = sum(1 for r in rows if r.get("threshold_step") is not None)
    product = len(summary) * len(seeds) == len(rows)
    out = [
        (
            f"{len(summary)} cells × {len(seeds)} seed{'s' if len(seeds) != 1 else ''} = {len(rows)} runs: "
            if product
            else f"{len(summary)} cells, {len(rows)} runs (each cell's seeds in the table): "
        )
        + ", ".join(f"{v} {k}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
        + (f"; {passed} reached {thr:g}% validation accuracy." if thr is not None else ".")
    ]
    out += _depth_sentences(summary, axes)
    out += _seed_setting_sentences(summary, axes, blob.get("config"))
    out += _verdict_sentences(rows)
    out += _prediction_sentences(rows)
    out += escape_sentences(summary, blob.get("num_classes") or 10)
    if len(seeds) == 1:
        out.append(
            f"Every number comes from a single seed ({seeds[0]}): no spread was measured, so small "
            "differences in accuracy may be noise."
        )
    else:
        out.append(
            "± is the standard deviation over "
            + (
                f"{len(seeds)} seeds ({', '.join(map(str, seeds))})"
                if product
                else "each cell's seeds"
            )
            + f"; {RULE}."
        )
    return out
