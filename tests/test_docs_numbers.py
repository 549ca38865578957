"""Measured numbers in the docs against the result files kept in the repository (issue 32): a number
typed by hand that no longer matches its file fails here. The measured tables live on
docs/results.md (issue 35 moved them there from the README); the README's headline table is a copy
of one of them, checked to stay one."""

from __future__ import annotations

import itertools
import json
import statistics
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
RESULTS = (ROOT / "docs/results.md").read_text(encoding="utf-8")


def _json(path: str) -> dict:
    return json.loads((ROOT / path).read_text(encoding="utf-8"))


def test_the_initial_scale_table_is_the_mean_of_its_file():
    rows = _json("docs/results/initial-scale.json")["rows"]
    doc = (ROOT / "docs/degradation.md").read_text(encoding="utf-8")
    for family in ("plain", "resnet"):
        for depth in (20, 56, 110):
            net = f"{family}{depth}"

            def cell(fc: str, key: str, rows=rows, net=net) -> list[float]:
                return [
                    r[key]
                    for r in rows
                    if r["net"] == net and r["width_mult"] == 0.5 and r["fc_init"] == fc
                ]

            he, pt = cell("as_init", "loss"), cell("default", "loss")
            line = (
                f"| {family}-{depth} | {statistics.fmean(he):.3f} ± {statistics.stdev(he):.3f} "
                f"| {statistics.fmean(pt):.3f} ± {statistics.stdev(pt):.3f} "
                f"| {statistics.fmean(cell('as_init', 'logit_std')):.2f} "
                f"| {statistics.fmean(cell('default', 'logit_std')):.2f} |"
            )
            assert line in doc, line


def test_the_seed_escape_table_rows_are_those_of_the_merged_grid():
    runs = _json("docs/seed-escape/grid.json")["runs"]
    # (cell label on the results page, settings that pick its runs out of grid.json)
    cells = {
        "`recipe`": {"grid.model": "deep_cnn", "optim.momentum": 0.9, "model.width_mult": 1.0},
        "`plain-sgd`": {"optim.momentum": 0.0, "optim.lr": 0.01},
        "`width-0.5`": {"model.width_mult": 0.5},
        "`width-0.25`": {"model.width_mult": 0.25},
        "`plain-sgd-lr0.1`": {"optim.momentum": 0.0, "optim.lr": 0.1},
        "`unit-inputs`": {"data.normalize": False},
        "`no-augment`": {"data.augment": False},
        "`resnet-plain`": {"grid.model": "resnet_seed_plain"},
        "`fp32`": {"train.amp": "off"},
    }
    rows = {
        line.split("|")[1].strip(): line for line in RESULTS.splitlines() if line.startswith("| `")
    }
    for label, want in cells.items():
        mine = [r for r in runs if all(r["settings"].get(k) == v for k, v in want.items())]
        if label == "`recipe`":  # the recipe: every other setting at the recipe's value too
            mine = [
                r
                for r in mine
                if r["settings"]["optim.lr"] == 0.01
                and r["settings"]["data.augment"]
                and r["settings"]["data.normalize"]
                and r["settings"]["train.amp"] == "bf16"
            ]
        assert mine, label
        row = rows[label]
        for r in mine:
            if r["escape_step"] is None:
                assert f"**{r['steps']:,}**" in row, (label, r["steps"])
            else:
                assert f"**{r['escape_step']:,}**" in row, (label, r["escape_step"])
            assert f"{r['best_val_acc']:.2f}" in row or f"{r['best_val_acc']:.2f} %" in row, label


def _table_rows(text: str, header: str) -> list[str]:
    """The rows of the Markdown table whose header line starts with ``header``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def _section(text: str, heading: str) -> str:
    return text.split(heading)[1].split("\n## ")[0]


def _quoted(section: str) -> list[str]:
    """The blockquoted paragraphs of ``section``, each joined into one line."""
    return [
        " ".join(line[2:] for line in para.splitlines())
        for para in section.split("\n\n")
        if para.startswith("> ")
    ]


def _assert_quoted_from(section: str, report: str) -> None:
    """``section`` quotes at least one paragraph, and every one it quotes is in ``report``
    (whitespace aside: pages wrap their quotes over lines)."""
    quoted = _quoted(section)
    assert quoted, "no conclusion of the kept report is quoted"
    flat = " ".join(report.split())
    for text in quoted:
        assert " ".join(text.split()) in flat, text


SEED_CONTROLS = "docs/measurements/summaries/seed-controls"
# The headline table's rows, in its order: the grid's cells as the preset plans them.
SEED_CONTROL_CELLS = (
    "model-simple_cnn_init-default_optim-sgd_lr0.01",
    "model-deep_cnn_init-default_optim-sgd_lr0.01",
    "model-deep_cnn_init-kaiming_optim-sgd_lr0.01",
    "model-deep_cnn_init-default_optim-adam_lr0.001",
    "model-deep_cnn_init-kaiming_optim-adam_lr0.001",
    "model-resnet_seed_skip-off_init-default_optim-sgd_lr0.01",
    "model-resnet_seed_skip-on_init-default_optim-sgd_lr0.01",
    "model-resnet_seed_skip-off_init-kaiming_optim-sgd_lr0.01",
    "model-resnet_seed_skip-on_init-kaiming_optim-sgd_lr0.01",
)


def test_the_seed_controls_table_is_that_of_the_kept_grid():
    cells = {c["cell"]: c for c in _json(f"{SEED_CONTROLS}/grid.json")["summary"]}
    rows = _table_rows(RESULTS, "| cell (model, skips, init, optimiser) |")
    assert len(rows) == len(SEED_CONTROL_CELLS) == len(cells)
    for row, name in zip(rows, SEED_CONTROL_CELLS):
        c = cells[name]
        (val, val_sd), (test, test_sd) = c["best_val_acc"], c["test_acc"]
        verdict = " / ".join(v.split()[0] for v in c["verdicts_init"])
        want = (
            f"| {c['outcomes']['learned']}/{len(c['seeds'])} | {val:.2f} ± {val_sd:.2f} "
            f"| {test:.2f} ± {test_sd:.2f} | {verdict} |"
        )
        assert row.replace("**", "").endswith(want), (row, want)


def test_the_seed_controls_conclusions_are_those_of_the_kept_report():
    report = (ROOT / SEED_CONTROLS / "grid.md").read_text(encoding="utf-8")
    _assert_quoted_from(_section(RESULTS, "## Which single change rescues"), report)
    # The README's two rescue numbers, from the same report.
    for estimate, interval in (("+53.12", "+50.99 to +55.25"), ("+44.55", "+36.26 to +52.84")):
        assert estimate in README and interval in README
        assert f"{estimate} points, 95 % CI {interval}, paired t over 3 seeds" in report


def test_the_readme_headline_table_is_a_copy_of_the_results_page_table():
    header = "| cell (model, skips, init, optimiser) |"
    readme = _table_rows(README, header)
    assert len(readme) == 9, readme
    assert readme == _table_rows(RESULTS, header)


def test_the_seed_escape_table_lives_on_the_results_page_alone():
    # One place for the table that issue 28 keeps extending: the test above reads it there.
    row = "| `recipe` |"
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    holders = [p.name for p in pages if row in p.read_text(encoding="utf-8")]
    assert holders == ["results.md"], holders


def test_the_study_benchmark_numbers_on_the_performance_page_are_those_of_its_file():
    perf = (ROOT / "docs/performance.md").read_text(encoding="utf-8")
    study = _json("docs/results/bench-study-degradation-cpu-100steps.json")["study"]
    seq, auto = study["seconds"]["one at a time"], study["seconds"]["jobs auto"]
    assert f"took {seq[0]:.0f} / {seq[1]:.0f} s one run at a time" in perf
    assert f"against {auto[0]:.0f} / {auto[1]:.0f} s" in perf
    assert f"**{study['ratio_of_medians']:.2f}×**" in perf
    per = study["ratio_per_repeat"]
    assert f"(per repeat {per[0]:.2f}× and {per[1]:.2f}×)" in perf
    assert f"chose {study['jobs_chosen'][0]} both times" in perf


DEGRADATION = "docs/measurements/summaries/degradation-cpu"


def _errors(runs: list[dict], family: str, depth: int) -> list[float]:
    """Clean training error of one net, by seed 0, 1, 2."""
    by_seed = {
        r["seed"]: 100 - r["final_train_clean_acc"]
        for r in runs
        if (r["family"], r["depth"]) == (family, depth)
    }
    return [by_seed[s] for s in (0, 1, 2)]


def test_the_degradation_tables_are_those_of_the_kept_sweep():
    from resnet_lab.inference import paired_difference

    blob = _json(f"{DEGRADATION}/sweep.json")
    report = (ROOT / DEGRADATION / "sweep.md").read_text(encoding="utf-8")
    page = (ROOT / "docs/degradation.md").read_text(encoding="utf-8")
    header = "| net | seeds | final clean train error % |"
    assert _table_rows(page, header) == _table_rows(report, header)
    # The results page's summary: each family's means and its paired depth gap.
    rows = _table_rows(RESULTS, "| | depth 20 | depth 56 | deeper − shallower")
    by = {(s["family"], s["depth"]): s["train_error"] for s in blob["summary"]}
    for row, family in zip(rows, ("plain", "resnet"), strict=True):
        (m20, s20), (m56, s56) = by[(family, 20)], by[(family, 56)]
        d = paired_difference(_errors(blob["runs"], family, 20), _errors(blob["runs"], family, 56))
        cells = row.replace("**", "")
        assert f"| {m20:.2f} ± {s20:.2f} % | {m56:.2f} ± {s56:.2f} % |" in cells, row
        assert d.text().split(", paired t")[0] + f", p = {d.p:.2g}" in cells, (row, d.text())


def test_the_degradation_conclusions_are_those_of_the_kept_report():
    report = " ".join((ROOT / DEGRADATION / "sweep.md").read_text(encoding="utf-8").split())
    page = (ROOT / "docs/degradation.md").read_text(encoding="utf-8")
    for section in (
        _section(RESULTS, "## The degradation problem"),
        _section(page, "## Measured: `degradation-cpu` on the 2-core CPU"),
    ):
        _assert_quoted_from(section, report)
    # The README's two numbers, from the same report.
    readme = " ".join(README.split())
    for estimate, interval in (("+34.13", "+25.63 to +42.63"), ("+5.11", "-5.20 to +15.41")):
        assert estimate in readme and f"CI {interval}" in readme
        assert f"{estimate} points, 95 % CI {interval}, paired t over 3 seeds" in report


def _clean_error(kept: str, run: str, step: int) -> float:
    """A kept run's clean training error % after iteration ``step`` (its metrics.jsonl)."""
    lines = (ROOT / kept / run / "metrics.jsonl").read_text().splitlines()
    epoch = next(e for e in map(json.loads, lines) if e["step"] == step)
    return 100 - epoch["train_clean"]["acc"]


def _gaps(kept: str, family: str, step: int, seeds: tuple[int, ...] = (0, 1, 2)) -> list[float]:
    """deep − shallow in clean training error, per seed in ``seeds``, after iteration ``step``."""
    return [
        _clean_error(kept, f"{family}56-seed{s}", step)
        - _clean_error(kept, f"{family}20-seed{s}", step)
        for s in seeds
    ]


def _points(gap: float, places: int = 1) -> str:
    return f"{gap:+.{places}f}".replace("-", "−")


def test_the_degradation_per_seed_gaps_are_those_of_the_kept_runs():
    page = (ROOT / "docs/degradation.md").read_text(encoding="utf-8")
    section = _section(page, "## Measured: `degradation-cpu` on the 2-core CPU")
    rows = _table_rows(section, "| after iteration | 118 | 944 | 2,000 |")
    for row, family in zip(rows, ("plain", "resnet"), strict=True):
        cells = [
            " / ".join(map(_points, _gaps(DEGRADATION, family, step))) for step in (118, 944, 2000)
        ]
        assert row == (
            f"| {family}-56 − {family}-20, seeds 0 / 1 / 2 | " + " | ".join(cells) + " |"
        ), row


def _gap_rows(label: str, kept: str, steps: tuple[int | None, ...]) -> str:
    """A per-iteration table's two rows of resnet-56 − resnet-20: per seed, and their mean ('–'
    where ``steps`` has None: past that run's budget)."""
    per_seed = [" / ".join(map(_points, _gaps(kept, "resnet", s))) if s else "–" for s in steps]
    mean = [_points(statistics.fmean(_gaps(kept, "resnet", s))) if s else "–" for s in steps]
    return (
        f"| {label}, seeds 0 / 1 / 2 | " + " | ".join(per_seed) + " |\n"
        "| its mean | " + " | ".join(mean) + " |"
    )


FC_INIT = "docs/measurements/fc-init"
RESIDUAL = f"{FC_INIT}/fc-as_init"  # degradation-cpu-residual's command: the pair's He arm
RESIDUAL_HEADING = "## Measured: `degradation-cpu-residual`, the residual half at twice the budget"
FC_INIT_HEADING = "## Measured: the classifier's initialisation and the initial loss (issue 34)"
LONG_STEPS = (118, 944, 2006, 3068, 4000)  # 34 epochs of 118 iterations, the last cut at 4,000


def _degradation_section(heading: str) -> str:
    return _section((ROOT / "docs/degradation.md").read_text(encoding="utf-8"), heading)


def test_the_residual_budget_table_and_conclusions_are_those_of_the_kept_sweep():
    section = _degradation_section(RESIDUAL_HEADING)
    report = (ROOT / RESIDUAL / "sweep.md").read_text(encoding="utf-8")
    header = "| net | seeds | final clean train error % |"
    assert _table_rows(section, header) == _table_rows(report, header)
    _assert_quoted_from(section, report)


def test_the_residual_budget_per_iteration_gaps_are_those_of_the_kept_runs():
    rows = "\n".join(_table_rows(_degradation_section(RESIDUAL_HEADING), "| after iteration |"))
    short = (118, 944, 2000, None, None)
    assert _gap_rows("`degradation-cpu` (2,000 it.)", DEGRADATION, short) in rows
    assert _gap_rows("`degradation-cpu-residual` (4,000 it.)", RESIDUAL, LONG_STEPS) in rows


def test_the_classifier_init_pair_is_that_of_the_kept_runs(benchmark_script):
    pair = benchmark_script("fc_init_pair")
    section = _degradation_section(FC_INIT_HEADING)
    result = pair.pair(ROOT / FC_INIT)
    assert pair.markdown(result) in section
    pt = result["arms"]["default"]["gap"]  # the README's sentence on PyTorch's classifier
    low, high = _points(pt["low"], 2), _points(pt["high"], 2)
    want = f"{_points(pt['estimate'], 2)} points (95 % CI {low} to {high}"
    assert want in " ".join(README.split()), want
    rows = "\n".join(_table_rows(section, "| after iteration |"))
    for fc, label in (("default", "PyTorch's classifier"), ("as_init", "He's classifier")):
        assert _gap_rows(f"{label} (`fc-{fc}`)", f"{FC_INIT}/fc-{fc}", LONG_STEPS) in rows


BUDGET = "docs/measurements/budget"
BUDGET_HEADING = (
    "## Measured: the budget series — He et al.'s second half at half width, decided at 4,000 "
    "iterations (issue 34)"
)
BUDGET_SWEEPS = (f"{FC_INIT}/fc-default", f"{BUDGET}/it4000")  # seeds 0-2, then 3 and 4
PLAIN_SWEEP = f"{BUDGET}/plain-it4000"  # the plain pair at the deciding budget, seeds 0-4


def _ci_points(gap: dict) -> tuple[str, str, str]:
    """A decision's estimate and 95 % interval as the pages write them (two places, signed)."""
    return tuple(_points(gap[k], 2) for k in ("estimate", "low", "high"))


def _budget_runs() -> list[tuple[str, dict]]:
    """The series' ten runs at 4,000 iterations, each with the kept sweep it is in."""
    return [(d, r) for d in BUDGET_SWEEPS for r in _json(f"{d}/sweep.json")["runs"]]


def test_the_budget_decision_is_that_of_the_kept_runs(benchmark_script):
    kept = _json(f"{BUDGET}/it4000-decision.json")
    again = benchmark_script("budget_decision").decide([ROOT / d for d in BUDGET_SWEEPS])
    again = json.loads(json.dumps(again))  # as the queue wrote it: seeds as JSON keys
    assert again["seeds"] == [0, 1, 2, 3, 4]
    assert {k: v for k, v in again.items() if k != "sweeps"} == {
        k: v for k, v in kept.items() if k != "sweeps"
    }


def test_the_budget_series_table_and_statements_are_those_of_its_decision(benchmark_script):
    series = benchmark_script("budget_series")
    section = _degradation_section(BUDGET_HEADING)
    assert series.markdown(series.load(sorted((ROOT / BUDGET).glob("it*-*.json")))) in section
    d = _json(f"{BUDGET}/it4000-decision.json")
    gap, per_seed = d["gap"], list(d["gap_per_seed"].values())
    flat = " ".join(section.split())
    assert d["text"].rsplit(":", 1)[0] in flat  # the estimate, interval, test, n and p
    no_worse = d["verdict"] == "no worse, shown"
    assert ("is no worse than resnet-20 after 4,000 iterations" in flat) == no_worse
    assert ("The interval also lies below 0" in flat) == (gap["high"] < 0)
    below = sum(g < 0 for g in per_seed)
    assert f"in {below} of {len(per_seed)} seeds" in flat
    est, low, high = _ci_points(gap)
    unseen = " and ".join(_points(d["gap_per_seed"][s], 2) for s in ("3", "4"))
    assert f"the two seeds not seen when it was chosen give {unseen} points" in flat
    readme, results = " ".join(README.split()), " ".join(RESULTS.split())
    assert (
        f"{est} points of clean training error (95 % CI {low} to {high}, paired t over seeds 0–4; "
        f"below the +{d['margin']:g}-point margin fixed in advance)"
    ) in readme
    assert f"the two seeds not seen then give {unseen} points" in readme
    assert (
        f"resnet-56 − resnet-20 {est} points (95 % CI {low} to {high}, paired t over 5 seeds, "
        f"p = {gap['p']:.3f}): **no worse, shown**"
    ) in results
    assert f"seeds 3 and 4, not seen then, give {unseen}" in results
    page = " ".join((ROOT / "docs/degradation.md").read_text(encoding="utf-8").split())
    assert f"**no worse, shown** ({est}, CI {low} to {high};" in page  # the before/now table
    # The budget was chosen after seeing seeds 0-2: every place with the verdict says so.
    for text in (flat, readme, results):
        assert "added to the series after" in text


def test_the_budget_series_gap_through_training_is_that_of_the_kept_runs():
    def gaps(step: int) -> list[float]:  # seeds 0-2 from the pair's PyTorch arm, 3 and 4 after
        return _gaps(BUDGET_SWEEPS[0], "resnet", step) + _gaps(
            BUDGET_SWEEPS[1], "resnet", step, seeds=(3, 4)
        )

    def plain(step: int) -> list[float]:
        return _gaps(PLAIN_SWEEP, "plain", step, seeds=(0, 1, 2, 3, 4))

    rows = _table_rows(_degradation_section(BUDGET_HEADING), "| after iteration |")
    want = []
    for family, of in (("resnet", gaps), ("plain", plain)):
        per_seed = " | ".join(" / ".join(map(_points, of(s))) for s in LONG_STEPS)
        mean = " | ".join(_points(statistics.fmean(of(s))) for s in LONG_STEPS)
        label = f"{family}-56 − {family}-20"
        want += [
            f"| {label}, seeds 0 / 1 / 2 / 3 / 4 | {per_seed} |",
            f"| {label}, their mean | {mean} |",
        ]
    assert rows == want
    m = [_points(statistics.fmean(gaps(s))) for s in LONG_STEPS]
    flat = " ".join(_degradation_section(BUDGET_HEADING).split())
    assert f"lags, {m[0]} and {m[1]} points after 118 and 944 iterations" in flat
    assert (
        f"level after 2,006 ({m[2]};" in flat and f"after 3,068 and 4,000 ({m[3]}, {m[4]})" in flat
    )


def test_the_budget_series_machine_and_data_are_those_of_its_runs():
    runs = [_json(f"{d}/{r['run']}/run.json") for d, r in _budget_runs()]
    prov = [r["provenance"] for r in runs]
    assert len(runs) == 10
    assert all("amx" in p["cpu"] and p["cpu_threads"] == 2 for p in prov)
    assert {r["precision"] for r in runs} == {"fp32"}
    assert {p["data_fingerprint"]["train"] for p in prov} == {15000}
    assert {r["model_options"]["width_mult"] for r in runs} == {0.5}
    assert {r["model_options"]["fc_init"] for r in runs} == {"default"}
    readme = " ".join(README.split())
    assert "at half width on 15,000 images — on a 2-core Intel Xeon (AMX), fp32" in readme


def _epoch_seconds(run_dir: Path) -> list[float]:
    """Each epoch's wall-clock seconds, as the run's metrics.jsonl logged them."""
    return [json.loads(line)["seconds"] for line in (run_dir / "metrics.jsonl").open()]


def _median_epoch(sweep: str, family: str, depth: int, seeds: range) -> float:
    """The median epoch, in seconds, over a net's runs of ``seeds`` in a kept sweep."""
    return statistics.median(
        t for s in seeds for t in _epoch_seconds(ROOT / sweep / f"{family}{depth}-seed{s}")
    )


def _training_hours(run_dirs: list[Path]) -> tuple[float, float, int]:
    """Hours summed over the runs' epochs: as logged, and with each epoch that holds a pause of the
    queue counted at its run's median epoch (an epoch's wall clock runs on while the queue is
    stopped with SIGSTOP for CI; such an epoch is over 5 times the median); and how many were."""
    logged = counted = 0.0
    paused = 0
    for run in run_dirs:
        seconds = _epoch_seconds(run)
        median = statistics.median(seconds)
        logged += sum(seconds)
        counted += sum(median if s > 5 * median else s for s in seconds)
        paused += sum(s > 5 * median for s in seconds)
    return logged / 3600, counted / 3600, paused


def test_the_budget_series_runs_are_healthy_and_their_time_is_summed_from_their_epochs():
    runs = [r for _, r in _budget_runs()]
    assert len(runs) == 10
    flat = " ".join(_degradation_section(BUDGET_HEADING).split())
    healthy = all(r["verdict_init"] == r["verdict_final"] == "healthy" for r in runs)
    assert (
        "all ten residual runs' gradient verdicts are healthy at initialisation and after training"
        in flat
    ) == healthy
    logged, hours, paused = _training_hours([ROOT / d / r["run"] for d, r in _budget_runs()])
    assert f"epochs: **{hours:.1f} h**" in flat
    assert f"counting the {paused} epochs that include a pause" in flat
    assert f"as logged, with the pauses, {logged:.1f} h" in flat
    assert f"{hours:.1f} h of training summed over the ten runs" in " ".join(README.split())


def test_the_budget_series_sizes_are_the_classifier_init_runs_epoch_times():
    page = " ".join((ROOT / "docs/degradation.md").read_text(encoding="utf-8").split())
    median = {d: _median_epoch(f"{FC_INIT}/fc-default", "resnet", d, range(3)) for d in (20, 56)}
    assert f"resnet-56 {median[56]:.1f}, resnet-20 {median[20]:.1f})" in page
    epochs = 34  # of 118 iterations: 4,000 iterations
    summed = 5 * epochs * (median[56] + median[20]) / 3600  # 5 seeds of each depth
    assert f"i.e. about {summed:.1f} h summed" in page


def test_the_final_budget_decision_is_that_of_the_kept_runs(benchmark_script):
    """The plain pair added at the deciding budget: recomputed from the three kept sweeps, and the
    residual numbers and verdict those of the decision taken before the plain pair ran."""
    kept = _json(f"{BUDGET}/it4000-final.json")
    again = benchmark_script("budget_decision").decide(
        [ROOT / d for d in (*BUDGET_SWEEPS, PLAIN_SWEEP)]
    )
    again = json.loads(json.dumps(again))
    assert {k: v for k, v in again.items() if k != "sweeps"} == {
        k: v for k, v in kept.items() if k != "sweeps"
    }
    before = _json(f"{BUDGET}/it4000-decision.json")
    assert {k: v for k, v in kept.items() if k in before and k != "sweeps"} == {
        k: v for k, v in before.items() if k != "sweeps"
    }
    assert kept["plain"]["seeds"] == [0, 1, 2, 3, 4]


def test_the_first_half_and_the_interaction_at_the_deciding_budget_are_those_of_its_decision():
    d = _json(f"{BUDGET}/it4000-final.json")
    plain, inter = d["plain"], d["interaction"]
    (pe, pl, ph), (ie, il, ih) = _ci_points(plain["gap"]), _ci_points(inter["gap"])
    flat = " ".join(_degradation_section(BUDGET_HEADING).split())
    shown = plain["degradation"] == "shown"
    assert ("**The first half holds at this budget**" in flat) == shown
    assert (
        f"plain-56 − plain-20 {pe} points of clean training error (95 % CI {pl} to {ph}, paired t "
        f"over 5 seeds, p = {plain['gap']['p']:.1g}): degradation {plain['degradation']}, in "
        f"{sum(g > 0 for g in plain['gap_per_seed'].values())} of 5 seeds"
    ) in flat
    assert (
        f"{ie} points (95 % CI {il} to {ih}, paired t over 5 seeds, p = {inter['gap']['p']:.2g}): "
        "in clean training error after 4,000 iterations at half width, depth costs the plain nets "
        f"more than the residual ones — {inter['verdict']}"
    ) in flat
    means = [statistics.fmean(_gaps(PLAIN_SWEEP, "plain", s, seeds=range(5))) for s in LONG_STEPS]
    widens = all(a < b for a, b in itertools.pairwise(means[:-1]))  # up to 3,068 iterations
    holds = abs(means[-1] - means[-2]) < 1  # within a point over the last 932 iterations
    assert widens and holds
    assert (
        "it widens through training until 3,068 iterations (means "
        + ", ".join(map(_points, means[:-1]))
        + f"), then holds ({_points(means[-1])} after 4,000"
    ) in flat
    readme, results = " ".join(README.split()), " ".join(RESULTS.split())
    assert f"plain-56 − plain-20 = {pe} points (95 % CI {pl} to {ph})" in readme
    assert f"interaction is {ie} points (95 % CI {il} to {ih}, paired t over seeds 0–4" in readme
    assert (
        f"plain-56 − plain-20 {pe} points (95 % CI {pl} to {ph}, paired t over 5 seeds): "
        f"degradation {plain['degradation']}"
    ) in results
    assert f"is {ie} points (95 % CI {il} to {ih}): {inter['verdict']}" in results
    page = " ".join((ROOT / "docs/degradation.md").read_text(encoding="utf-8").split())
    assert f"the first half holds there (plain-56 {pe}, CI {pl} to {ph})" in page


def test_the_plain_pair_differs_from_the_residual_runs_in_the_skips_alone():
    twins = {x["run"].replace("resnet", "plain"): ROOT / d / x["run"] for d, x in _budget_runs()}
    assert len(twins) == 10
    plain_runs = {name: _json(f"{PLAIN_SWEEP}/{name}/run.json") for name in twins}
    for name, twin_dir in twins.items():  # plain56-seed3 against resnet56-seed3, ...
        run, twin = plain_runs[name], json.loads((twin_dir / "run.json").read_text())
        options, twin_options = run["model_options"], twin["model_options"]
        assert {k for k in options if options[k] != twin_options[k]} == {"skip"}
        assert run["provenance"]["data_fingerprint"] == twin["provenance"]["data_fingerprint"]
        assert run["precision"] == "fp32" and "amx" in run["provenance"]["cpu"]
        # The same initial weights in every layer, the classifier included.
        inits = [
            json.loads((d / "diagnostics.jsonl").open().readline())
            for d in (ROOT / PLAIN_SWEEP / name, twin_dir)
        ]
        assert {i["phase"] for i in inits} == {"init"}
        plain_init, twin_init = (
            [(x["name"], x["weight_norm"]) for x in i["layers"]] for i in inits
        )
        assert plain_init == twin_init and plain_init[-1][0] == "fc"
    # The same training, data and diagnostics settings in the three sweeps: only what each sweeps
    # over (families, seeds) differs.
    configs = [
        yaml.safe_load((ROOT / d / "config.yaml").read_text())
        for d in (*BUDGET_SWEEPS, PLAIN_SWEEP)
    ]
    for c in configs:
        del c["sweep"], c["grid"]
    assert configs[0] == configs[1] == configs[2]
    flat = " ".join(_degradation_section(BUDGET_HEADING).split())
    assert (
        "differ in the skips alone: the same options but `skip`, the same config, and the same"
        in flat
    )
    rows = _json(f"{PLAIN_SWEEP}/sweep.json")["runs"]
    vanished = any("vanishing" in r[k] for r in rows for k in ("verdict_init", "verdict_final"))
    assert ("No plain run's gradients were judged vanishing" in flat) != vanished
    exploding = sum(r["verdict_init"] == "exploding gradients" for r in rows if "56" in r["run"])
    assert f"verdict at initialisation is exploding gradients ({exploding} of 5:" in flat
    healthy = all(r["verdict_final"] == "healthy" for r in rows) and all(
        r["verdict_init"] == "healthy" for r in rows if "20" in r["run"]
    )
    assert ("healthy after training; plain-20's is healthy at both" in flat) == healthy
    started = min(r["provenance"]["started"] for r in plain_runs.values())
    finished = max(r["finished"] for r in plain_runs.values())
    assert f"{started[11:16]} UTC on {started[:10]} to {finished[11:16]} on {finished[:10]}" in flat
    median = {d: _median_epoch(PLAIN_SWEEP, "plain", d, range(5)) for d in (20, 56)}
    assert f"(plain-56 {median[56]:.1f} s, plain-20 {median[20]:.1f} s)" in flat
    logged, hours, paused = _training_hours([ROOT / PLAIN_SWEEP / r["run"] for r in rows])
    assert f"**{hours:.1f} h** summed over their epochs" in flat
    assert f"({paused} epochs with a pause; {logged:.1f} h as logged)" in flat


def test_the_amx_half_width_bf16_numbers_are_those_of_their_files():
    perf = (ROOT / "docs/performance.md").read_text(encoding="utf-8")

    def speed(name: str, model: str) -> float:
        rows = _json(f"docs/results/bench-amx-{name}.json")["throughput"]["models"]
        return next(r for r in rows if r["model"] == model)["images_per_s"]["resnet-lab"]

    for model in ("resnet20", "resnet56"):
        fp32, bf16 = speed("halfwidth-fp32", model), speed("halfwidth-bf16", model)
        assert f"{model} {fp32:.0f} → {bf16:.0f} img/s ({bf16 / fp32:.2f}×)" in perf, model
    assert f"DeepCNN at {speed('seed-plain-sgd-bf16', 'deep_cnn'):.0f}\nimg/s in bf16" in perf


def test_the_plain_sgd_table_rows_are_those_of_the_kept_runs():
    kept = ROOT / "docs/measurements/seed-escape/seed-plain-sgd"
    rows = _table_rows(RESULTS, "| model (`seed-plain-sgd`) |")
    assert len(rows) >= 3, rows
    for row in rows:
        model = row.split("|")[1].strip()
        r = json.loads((kept / model / "run.json").read_text(encoding="utf-8"))["results"]
        assert f"**{r['test_acc']:.2f} %**" in row, model
        assert f"{r['best_val_acc']:.2f} % ({r['best_val_epoch']})" in row, model
        escape = (
            f"| {r['escape_step']:,} |"
            if r["escape_step"] is not None
            else f"still at ln 10 at its last step, {r['steps']:,}"
        )
        assert escape in row, model
        assert f"| {r['status']} |" in row and f"| {r['predicted_init']} |" in row, model


def test_the_readme_plain_sgd_sentence_is_that_of_the_kept_runs():
    kept = ROOT / "docs/measurements/seed-escape/seed-plain-sgd"
    acc = {
        m: json.loads((kept / m / "run.json").read_text(encoding="utf-8"))["results"]["test_acc"]
        for m in ("simple_cnn", "deep_cnn", "resnet_seed")
    }
    text = " ".join(README.split())
    assert f"under plain SGD at lr 0.01 ({acc['deep_cnn']:.2f} % test" in text
    assert f"({acc['simple_cnn']:.2f} % and {acc['resnet_seed']:.2f} % against 70.75 %" in text


def test_the_calibration_tables_are_those_generated_from_the_kept_calibration(benchmark_script):
    blob = _json("docs/measurements/calibration/prediction-calibration.json")
    page = (ROOT / "docs/diagnostics.md").read_text(encoding="utf-8")
    for line in benchmark_script("calibrate_prediction").markdown(blob).splitlines():
        assert line in page, line


def test_diagnose_states_the_held_out_record_of_the_kept_calibration():
    from resnet_lab.diagnostics.predict import HIT_RATE_TEXT

    held = _json("docs/measurements/calibration/prediction-calibration.json")["parts"]["held-out"]
    hit, sens = held["hit_rate"], held["sensitivity"]
    expected = (
        f"on {held['runs']} held-out runs of the trainability map right in {hit['hits']} "
        f"({100 * hit['rate']:.0f} %, 95 % CI {100 * hit['low']:.0f}-{100 * hit['high']:.0f} %), "
        f"but only {sens['hits']} of {sens['n']} failures foreseen"
    )
    assert HIT_RATE_TEXT.startswith(expected), (HIT_RATE_TEXT, expected)
    page = (ROOT / "docs/diagnostics.md").read_text(encoding="utf-8")
    assert f"{hit['hits']}/{held['runs']} = {100 * hit['rate']:.0f} %" in page
    assert f"sensitivity {sens['hits']}/{sens['n']} = {100 * sens['rate']:.0f} %" in page


def test_the_trainability_page_quotes_the_merged_3_seed_report():
    def flat(path: str) -> str:  # pages wrap their quotes over lines
        return " ".join((ROOT / path).read_text(encoding="utf-8").split())

    report = flat("docs/measurements/calibration/map-3seeds/grid.md")
    page = flat("docs/trainability.md")
    quotes = [
        q for q in page.split('"') if q.startswith(("No skip", "Skip, BN", "changing", "For '"))
    ]
    assert len(quotes) == 5, quotes
    for q in quotes:
        assert q in report, q
    runs = _json("docs/measurements/calibration/map-3seeds/grid.json")["runs"]
    assert len(runs) == 264 and sum(r["outcome"] == "learned" for r in runs) == 207
    results = flat("docs/results.md")
    for number in (
        "+13.10 points, 95 % CI +5.64 to +20.56",
        "+9.53 points, 95 % CI +0.09 to +18.97",
    ):
        assert number in report and number in page
    assert "+13.10 points, 95 % CI +5.64 to +20.56" in results


def test_the_long_study_benchmark_numbers_are_those_of_its_kept_file():
    perf = " ".join((ROOT / "docs/performance.md").read_text(encoding="utf-8").split())
    study = _json("docs/measurements/jobs-bench/degradation-cpu-seed0-1000steps/bench.json")[
        "study"
    ]
    seq, auto = study["seconds"]["one at a time"], study["seconds"]["jobs auto"]
    assert (
        f"took **{seq[0]:.0f} / {seq[1]:.0f} s one run at a time against {auto[0]:.0f} / "
        f"{auto[1]:.0f} s with `--jobs auto`: {study['ratio_of_medians']:.2f}×**" in perf
    )
    per = study["ratio_per_repeat"]
    assert f"(per repeat {per[0]:.2f}× and {per[1]:.2f}×;" in perf
    assert study["jobs_chosen"] == [2, 2] and "chose 2 both times" in perf
    kept = ROOT / "docs/measurements/jobs-bench/degradation-cpu-seed0-1000steps"
    probes = [
        json.loads((kept / f"study-{i}-auto/grid.json").read_text())["provenance"]["jobs_probe"]
        for i in (0, 1)
    ]
    two = [p["throughput_vs_one_job"]["2"] for p in probes]
    assert f"at {two[0]:.2f}× and {two[1]:.2f}× the step throughput" in perf


def test_the_quick_compare_probe_quoted_on_the_performance_page_is_that_of_its_file():
    perf = " ".join((ROOT / "docs/performance.md").read_text(encoding="utf-8").split())
    probe = _json("docs/results/jobs-probe-quick-compare-amx.json")["jobs_probe"]
    assert (
        f"quarter-width nets measured {probe['throughput_vs_one_job']['2']:.2f}× on the AMX" in perf
    )


QUICK = {
    "sgd": ("docs/measurements/summaries/quick-sgd", "## SGD at the quick scale"),
    "adam": ("docs/measurements/summaries/quick-adam", "## Adam — the same deep plain net"),
}


@pytest.mark.parametrize("optimizer", sorted(QUICK))
def test_the_quick_compare_tables_are_those_of_the_kept_runs(optimizer):
    kept, heading = QUICK[optimizer]
    section = _section(RESULTS, heading)
    rows = _table_rows(section, "| model | params | learned | best val acc | test acc |")
    summary = _json(f"{kept}/results.json")["summary"]
    assert len(rows) == len(summary) == 4
    for row, s in zip(rows, summary, strict=True):
        (val, val_sd), (test, test_sd) = s["best_val_acc"], s["test_acc"]
        want = (
            f"| {s['params']:,} | {s['learned']}/{s['n']} | {val:.2f} ± {val_sd:.2f} % "
            f"| {test:.2f} ± {test_sd:.2f} % |"
        )
        assert row.startswith(f"| {s['model']}") and want in row.replace("**", ""), (row, want)


@pytest.mark.parametrize("optimizer", sorted(QUICK))
def test_the_quick_compare_conclusions_are_those_of_the_kept_report(optimizer):
    kept, heading = QUICK[optimizer]
    report = " ".join((ROOT / kept / "report.md").read_text(encoding="utf-8").split())
    _assert_quoted_from(_section(RESULTS, heading), report)
