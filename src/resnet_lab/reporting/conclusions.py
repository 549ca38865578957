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


def model_sentences(m: dict[str, Any]) -> list[str]:
    r = m["row"]
    out = []
    if r["status"] == "learned":
        out.append(f"{m['label']} learned: best validation accuracy {_pct(r['best_val_acc'])} (epoch "
                   f"{r['best_val_epoch']}), test accuracy {_pct(r['test_acc'])}.")
    else:
        out.append(f"{m['label']} failed (test accuracy {_pct(r['test_acc'])}): {r['problem'].split(';')[0]}.")
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
    """All conclusion sentences for the report, in reading order."""
    out: list[str] = []
    out += seed_sentences(models)
    out += optimizer_sentences(models)
    out += ranking_sentences(models)
    for m in models:
        out += model_sentences(m)
    out += spread_sentence(models)
    return out
