"""Conclusion sentences computed from a run's numbers; nothing here is written in advance.

Every sentence is produced by a condition on the data and carries the numbers it rests on, so a
run where the ResNet does not win says so, and different numbers give different sentences.
"""

from __future__ import annotations

from typing import Any

SEED_ORDER = ("resnet_seed", "simple_cnn", "deep_cnn")  # the seed's reported ranking, best first
NOISE_POINTS = 1.0  # differences below this many points are called "within about a point"


def _pct(x: float) -> str:
    return f"{x:.2f}%"


def _ratio(v: dict[str, Any]) -> str:
    r = v.get("first_to_last")
    return "n/a" if r is None else f"{r:.2g}"


def _judged_problem(row: dict[str, Any]) -> str:
    # Rows written before the judged problem was stored on its own hold it as the first clause.
    return row.get("outcome_problem") or row["problem"].split(";")[0]


def model_sentences(m: dict[str, Any]) -> list[str]:
    r = m["row"]
    out = []
    if r["status"] == "learned":
        out.append(f"{m['label']} learned: best validation accuracy {_pct(r['best_val_acc'])} (epoch "
                   f"{r['best_val_epoch']}), test accuracy {_pct(r['test_acc'])}.")
    else:
        out.append(f"{m['label']} failed (test accuracy {_pct(r['test_acc'])}): {_judged_problem(r)}.")
    d = m.get("diagnosis")
    if d:
        v = d["verdict"]["init"]
        out.append(f"{m['label']}'s gradients at initialisation: {v['verdict']} ({v['evidence'][0]}).")
        if "finding" in d:
            out.append(f"{m['label']}: {d['finding']['text']}.")
    return out


def ranking_sentences(models: list[dict[str, Any]]) -> list[str]:
    if len(models) < 2:
        return []
    ranked = sorted(models, key=lambda m: m["row"]["test_acc"], reverse=True)
    out = ["Ranking by test accuracy: " + " > ".join(f"{m['label']} {_pct(m['row']['test_acc'])}" for m in ranked) + "."]
    best = ranked[0]
    for other in ranked[1:]:
        diff = best["row"]["test_acc"] - other["row"]["test_acc"]
        if diff < NOISE_POINTS:
            out.append(f"{best['label']} and {other['label']} are within about a point "
                       f"({_pct(best['row']['test_acc'])} vs {_pct(other['row']['test_acc'])}, {diff:.2f} points).")
        else:
            out.append(f"{best['label']} beat {other['label']} by {diff:.2f} points "
                       f"({_pct(best['row']['test_acc'])} vs {_pct(other['row']['test_acc'])}).")
    return out


def seed_sentences(models: list[dict[str, Any]]) -> list[str]:
    """Compare with the seed's claims, only for the seed's models present in this run."""
    by_name = {m["name"]: m for m in models}
    out = []
    if all(n in by_name for n in SEED_ORDER):
        accs = [by_name[n]["row"]["test_acc"] for n in SEED_ORDER]
        holds = accs[0] > accs[1] > accs[2]
        out.append(f"The seed's ordering ResNet > SimpleCNN > DeepCNN {'holds' if holds else 'does not hold'} "
                   f"here ({', '.join(f'{n} {_pct(a)}' for n, a in zip(SEED_ORDER, accs))}).")
    if "deep_cnn" in by_name and "resnet_seed" in by_name:
        plain, res = by_name["deep_cnn"], by_name["resnet_seed"]
        ps, rs = plain["row"]["status"], res["row"]["status"]
        if ps == "failed" and rs == "learned":
            text = (f"With skip connections the deep network learned ({res['label']} {_pct(res['row']['test_acc'])}); "
                    f"without them it failed ({plain['label']} {_pct(plain['row']['test_acc'])}).")
        elif ps == rs == "learned":
            text = (f"Both deep networks learned here ({plain['label']} {_pct(plain['row']['test_acc'])}, "
                    f"{res['label']} {_pct(res['row']['test_acc'])}): this run does not show the plain net failing.")
        else:
            text = f"{plain['label']} {ps} and {res['label']} {rs}."
        pd, rd = plain.get("diagnosis"), res.get("diagnosis")
        if pd and rd:
            pv, rv = pd["verdict"]["init"], rd["verdict"]["init"]
            text += (f" At initialisation {plain['label']}'s gradients were judged '{pv['verdict']}' (first/last "
                     f"layer gradient ratio {_ratio(pv)}) and {res['label']}'s '{rv['verdict']}' (ratio {_ratio(rv)}).")
        out.append(text)
    return out


def optimizer_sentences(models: list[dict[str, Any]]) -> list[str]:
    """When the report combines runs that differ only in the optimiser: does the outcome depend on it?"""
    by_model: dict[str, dict[str, dict[str, Any]]] = {}
    for m in models:
        by_model.setdefault(m["name"], {})[m["optimizer"]] = m
    out = []
    for name, runs in by_model.items():
        if len(runs) < 2:
            continue
        statuses = {opt: r["row"]["status"] for opt, r in runs.items()}
        parts = ", ".join(f"{statuses[o]} with {o} ({_pct(runs[o]['row']['test_acc'])})" for o in sorted(runs))
        if len(set(statuses.values())) > 1:
            out.append(f"{name} depends on the optimiser: it {parts}.")
        else:
            out.append(f"{name} {next(iter(statuses.values()))} with every optimiser tried: {parts}.")
    return out


def spread_sentence(models: list[dict[str, Any]]) -> list[str]:
    seeds = sorted({m["seed"] for m in models})
    if len(seeds) == 1:
        return [f"Every number comes from a single seed ({seeds[0]}); no spread over seeds was measured, so "
                f"differences of about {NOISE_POINTS:.0f} point may be noise."]
    return [f"Runs use {len(seeds)} seeds ({', '.join(map(str, seeds))})."]


def conclusions(models: list[dict[str, Any]]) -> list[str]:
    """All conclusion sentences for the report, in reading order. When the report combines several
    runs, the within-run comparisons are made per run (prefixed with the run's optimiser, or its
    name) and only the optimiser sentences compare across runs."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for m in models:
        groups.setdefault(m.get("run", ""), []).append(m)
    optimizers = {ms[0]["optimizer"] for ms in groups.values()}
    prefix = {run: "" if len(groups) == 1 else
              f"With {ms[0]['optimizer']}: " if len(optimizers) == len(groups) else f"In {run}: "
              for run, ms in groups.items()}
    out: list[str] = []
    for run, ms in groups.items():
        out += [prefix[run] + (s[0].lower() + s[1:] if prefix[run] else s) for s in seed_sentences(ms)]
    out += optimizer_sentences(models)
    for run, ms in groups.items():
        out += [prefix[run] + s for s in ranking_sentences(ms)]
    for m in models:
        out += model_sentences(m)
    out += spread_sentence(models)
    return out


def _err(summary_row: dict[str, Any], key: str = "train_error") -> float:
    return summary_row[key][0]


def degradation_sentences(summary: list[dict[str, Any]], rows: list[dict[str, Any]]) -> list[str]:
    """Sweep conclusions: does training error grow with depth (degradation), per family, and were the
    plain nets' gradients healthy while it did (so that it is not a vanishing-gradient failure)?"""
    out: list[str] = []
    degraded = False
    by = {(s["family"], s["depth"]): s for s in summary}
    for family in ("plain", "resnet"):
        depths = sorted(d for f, d in by if f == family)
        for shallow, deep in zip(depths, depths[1:]):
            a, b = by[(family, shallow)], by[(family, deep)]
            ea, eb = _err(a), _err(b)
            stds = [x for x in (a["train_error"][1], b["train_error"][1]) if x is not None]
            noise = f" (seed std up to {max(stds):.2f})" if stds else " (one seed: no spread measured)"
            if eb > ea:
                degraded = degraded or family == "plain"
                kind = "degradation: the deeper net is worse on its own training data" if family == "plain" else \
                    "the deeper residual net trains worse here"
                out.append(f"{family}{deep}'s final training error {eb:.2f}% is higher than {family}{shallow}'s "
                           f"{ea:.2f}%{noise} — {kind}.")
            else:
                out.append(f"{family}{deep}'s final training error {eb:.2f}% is not higher than {family}{shallow}'s "
                           f"{ea:.2f}%{noise}" + (": no degradation at this budget." if family == "plain" else "."))
    for depth in sorted({d for _, d in by}):
        if ("plain", depth) in by and ("resnet", depth) in by:
            p, r = _err(by[("plain", depth)]), _err(by[("resnet", depth)])
            rel = "lower than" if r < p else "equal to" if r == p else "higher than"
            out.append(f"At depth {depth} the residual net's final training error {r:.2f}% is {rel} the plain net's "
                       f"{p:.2f}%; test error {_err(by[('resnet', depth)], 'test_error'):.2f}% vs "
                       f"{_err(by[('plain', depth)], 'test_error'):.2f}%.")
    plain_rows = [r for r in rows if r["family"] == "plain"]
    if plain_rows:
        healthy = [r for r in plain_rows if r["verdict_init"] == "healthy" and r["verdict_final"] == "healthy"]
        ratios = [r["first_to_last_grad_init"] for r in plain_rows if r.get("first_to_last_grad_init") is not None]
        span = f" (first/last-layer gradient ratio at init {min(ratios):.2g}-{max(ratios):.2g})" if ratios else ""
        if len(healthy) == len(plain_rows):
            out.append(f"Every plain run's gradients were judged healthy at initialisation and after training{span}"
                       + (": the degradation seen here is not a vanishing-gradient failure." if degraded else "."))
        else:
            bad = ", ".join(f"{r['run']}: {r['verdict_init']} / {r['verdict_final']}" for r in plain_rows
                            if r not in healthy)
            out.append(f"Not every plain run had healthy gradients ({bad}); read degradation claims with that in mind.")
    seeds = sorted({r["seed"] for r in rows})
    out.append(f"Seeds: {', '.join(map(str, seeds))}" + ("; with one seed no spread is measured." if len(seeds) == 1
                                                          else f"; ± is the standard deviation over {len(seeds)} seeds."))
    return out
