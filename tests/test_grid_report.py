"""The grid report: built from hand-made grid.json fixtures, so every sentence can be checked
against numbers chosen here (and shown to change when one cell's outcome changes)."""

from __future__ import annotations

import json
import re
import shutil
import statistics
import subprocess

import pytest

from resnet_lab.errors import UserError
from resnet_lab.reporting import plots
from resnet_lab.reporting.grid_conclusions import grid_sentences
from resnet_lab.reporting.grid_report import write_grid_report

DEPTHS = (8, 20)
SETTINGS = (
    [False, "none", "default"],  # the seed's setting
    [False, "none", "kaiming"],  # differs from it in model.init only
    [True, "batch", "default"],
)  # differs in model.skip and model.norm: no single key to credit
OPTIMS = ("sgd", "adam")
SKIP_KEYS = ["model.skip", "model.norm", "model.init"]


def _outcomes() -> dict[tuple[str, int, int], list[tuple[str, float, str]]]:
    """(optimiser, setting index, depth) -> per seed (outcome, best val acc, verdict at init)."""
    learned = lambda acc, verdict="healthy": ("learned", acc, verdict)
    failed = lambda verdict="healthy": ("failed", 10.0, verdict)
    return {
        ("sgd", 0, 8): [learned(40.0, "vanishing gradients")],  # false alarm
        ("sgd", 0, 20): [failed("vanishing gradients")],  # predicted
        ("sgd", 1, 8): [learned(45.0)],
        ("sgd", 1, 20): [learned(35.2)],
        ("sgd", 2, 8): [learned(50.0)],
        ("sgd", 2, 20): [learned(48.0)],
        ("adam", 0, 8): [learned(42.0)],
        ("adam", 0, 20): [failed()],  # missed
        ("adam", 1, 8): [learned(46.0)],
        ("adam", 1, 20): [learned(44.0)],
        ("adam", 2, 8): [learned(52.0)],
        ("adam", 2, 20): [learned(51.0)],
    }


def _ms(xs):
    return None if not xs else [statistics.mean(xs), statistics.stdev(xs) if len(xs) > 1 else None]


def _grid(outcomes, seeds=(0,)) -> dict:
    """A grid.json as the engine writes it, summary computed from the rows."""
    axes = [
        {"keys": ["model.depth"], "values": [[d] for d in DEPTHS]},
        {"keys": SKIP_KEYS, "values": [list(s) for s in SETTINGS]},
        {"keys": ["optim.name"], "values": [[o] for o in OPTIMS]},
    ]
    runs, summary = [], []
    for d in DEPTHS:
        for i, (skip, norm, init) in enumerate(SETTINGS):
            for o in OPTIMS:
                settings = {
                    "model.depth": d,
                    "model.skip": skip,
                    "model.norm": norm,
                    "model.init": init,
                    "optim.name": o,
                }
                cell = f"depth{d}-skip{int(skip)}-norm_{norm}-init_{init}-optim_{o}"
                rows = []
                for seed, (outcome, acc, verdict) in zip(seeds, outcomes[(o, i, d)]):
                    ok = outcome == "learned"
                    rows.append(
                        {
                            "cell": cell,
                            "run": f"{cell}-seed{seed}",
                            "seed": seed,
                            "settings": settings,
                            "outcome": outcome,
                            "status": outcome,
                            "problem": None
                            if ok
                            else "loss stayed at ln 10 = 2.3026 for all 4 epochs: no learning",
                            "left_ln": ok,
                            "best_val_acc": acc,
                            "final_val_acc": acc,
                            "final_train_loss": 1.5,
                            "test_acc": acc - 1,
                            "steps": 400,
                            "threshold_step": 300 if acc >= 20 else None,
                            "diverged_at_step": None,
                            "verdict_init": verdict,
                            "verdict_final": "healthy",
                            "params": 1000 * d,
                            "seconds": 12.0,
                            "error": None,
                            "extra_key": 1,
                        }
                    )
                runs += rows
                counts = {
                    k: sum(r["outcome"] == k for r in rows)
                    for k in ("learned", "failed", "diverged", "error")
                }
                shared = {r["outcome"] for r in rows}
                summary.append(
                    {
                        "cell": cell,
                        "settings": settings,
                        "seeds": list(seeds),
                        "outcomes": counts,
                        "outcome": shared.pop() if len(shared) == 1 else "mixed",
                        "best_val_acc": _ms([r["best_val_acc"] for r in rows]),
                        "best_val_by_seed": {r["seed"]: r["best_val_acc"] for r in rows},
                        "test_acc": _ms([r["test_acc"] for r in rows]),
                        "threshold_step": _ms(
                            [r["threshold_step"] for r in rows if r["threshold_step"]]
                        ),
                        "passed": sum(r["threshold_step"] is not None for r in rows),
                        "verdicts_init": sorted({r["verdict_init"] for r in rows}),
                        "left_ln": sum(bool(r["left_ln"]) for r in rows),
                    }
                )
    return {
        "config": {
            "preset": "smoke",
            "models": ["simple_cnn", "deep_cnn"],  # compare's list, which a grid does not read
            "train": {"seed": 0},
            "grid": {
                "model": "cifar_net",
                "axes": [
                    "model.depth=8,20",
                    "model.skip,model.norm,model.init=...",
                    "optim.name=sgd,adam",
                ],
                "seeds": list(seeds),
                "threshold_acc": 20.0,
            },
        },
        "axes": axes,
        "seeds": list(seeds),
        "threshold_acc": 20.0,
        "num_classes": 10,
        "provenance": {
            "command": "resnet-lab grid --preset smoke",
            "started": "2025-01-01T00:00",
            "finished": "2025-01-01T01:00",
            "data": "synthetic",
            "device": "cpu",
            "cpu_threads": 2,
            "torch": "9.9.9-test",
            "torchvision": "0.0.0",
        },
        "runs": runs,
        "summary": summary,
    }


def _rescue_sentences(blob) -> list[str]:
    return [
        s for s in grid_sentences(blob) if "the seed's setting" in s and "failed (best val" in s
    ]


def test_report_files_and_self_contained_html(tmp_path):
    (tmp_path / "grid.json").write_text(json.dumps(_grid(_outcomes())))
    html_path, md_path = write_grid_report(tmp_path)
    assert html_path == tmp_path / "grid.html" and md_path == tmp_path / "grid.md"
    # the settings shown are the grid's own, not compare's model list
    assert "model: cifar_net" in md_path.read_text() and "simple_cnn" not in md_path.read_text()
    assert (tmp_path / "figures" / "grid_heatmap.png").stat().st_size > 10_000
    html = html_path.read_text()
    imgs = re.findall(r"<img[^>]*src='([^']*)'", html)
    assert len(imgs) == len(list((tmp_path / "figures").glob("*.png"))) == 1
    assert all(src.startswith("data:image/png;base64,") for src in imgs)
    assert not re.search(r"https?://", html)
    assert "9.9.9-test" in html and "depth20-skip0-norm_none-init_kaiming-optim_sgd" in html
    md = md_path.read_text()
    assert "](figures/grid_heatmap.png)" in md and "| 35.20 |" in md


def test_rescue_names_exactly_the_single_key_changes(tmp_path):
    outcomes = _outcomes()
    [sgd20] = [s for s in _rescue_sentences(_grid(outcomes)) if "sgd" in s]
    assert sgd20.startswith(
        "At depth 20 the seed's setting (no skip, no norm, default init, sgd) failed"
    )
    assert (
        "changing only model.init from default to kaiming makes it learn (best val 35.2% vs 10.0%; "
        "+25.20 points, paired over 1 seed: too few seeds for an interval" in sgd20
    )
    assert "changing only the optimiser to adam (10.0%) leaves it failing" in sgd20
    assert (
        "model.skip" not in sgd20 and "model.norm" not in sgd20
    )  # the skip+BN cell differs in two keys
    assert sum("makes it learn" in s for s in _rescue_sentences(_grid(outcomes))) == 1

    outcomes[("sgd", 1, 20)] = [("failed", 10.0, "healthy")]  # kaiming no longer rescues it ...
    outcomes[("adam", 0, 20)] = [("learned", 30.0, "healthy")]  # ... but Adam does
    flipped = _rescue_sentences(_grid(outcomes))
    assert len(flipped) == 1
    assert (
        "changing only the optimiser from sgd to adam makes it learn (best val 30.0% vs 10.0%; "
        "+20.00 points, paired over 1 seed" in flipped[0]
    )
    assert "changing only model.init to kaiming (10.0%) leaves it failing" in flipped[0]
    assert any(
        "At depth 8 the seed's setting (no skip, no norm, default init, sgd) learned" in s
        for s in grid_sentences(_grid(outcomes))
    )


def test_deepest_depth_follows_the_data():
    outcomes = _outcomes()
    s = grid_sentences(_grid(outcomes))
    assert (
        "No skip, no norm, default init with sgd: deepest depth at which it learned in every seed: 8 "
        "(best val 40.0%); shallowest at which it failed: 20 (best val 10.0%) (depths tried: 8, 20)."
    ) in s
    assert any(
        x.startswith("No skip, no norm, kaiming with sgd: learned at every depth tried (8, 20)")
        for x in s
    )
    outcomes[("sgd", 0, 8)] = [("failed", 10.0, "healthy")]
    s = grid_sentences(_grid(outcomes))
    assert "No skip, no norm, default init with sgd: failed at every depth tried (8, 20)." in s


def test_verdict_counts():
    s = grid_sentences(_grid(_outcomes()))
    [counts] = [x for x in s if x.startswith("Did the gradient verdict")]
    assert (
        "Of 12 runs with a verdict: 1 flagged and then failed or diverged (predicted: 1 vanishing gradients), "
        "1 judged healthy but failed or diverged (missed), 1 flagged but learned (false alarms), "
        "9 healthy and learned."
    ) in counts
    assert "Missed: depth20-skip0-norm_none-init_default-optim_adam-seed0 (healthy, failed)." in s
    assert (
        "False alarms: depth8-skip0-norm_none-init_default-optim_sgd-seed0 (vanishing gradients, learned)."
        in s
    )
    assert any("single seed (0)" in x for x in s)


def test_two_seeds_mixed_cell_and_overlapping_ranges(tmp_path):
    two = {k: v * 2 for k, v in _outcomes().items()}
    two[("sgd", 0, 8)] = [("learned", 40.0, "healthy"), ("failed", 10.0, "vanishing gradients")]
    two[("sgd", 0, 20)] = [("failed", 16.0, "healthy"), ("failed", 19.8, "healthy")]  # 17.9 ± 2.7
    two[("sgd", 1, 20)] = [
        ("learned", 20.5, "healthy"),
        ("learned", 22.0, "healthy"),
    ]  # 21.2 ± 1.1: overlaps
    blob = _grid(two, seeds=(0, 1))
    summary = {c["cell"]: c for c in blob["summary"]}
    assert summary["depth8-skip0-norm_none-init_default-optim_sgd"]["outcome"] == "mixed"

    fig = plots.grid_heatmap(blob["summary"], blob["axes"], num_classes=10)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    plots.plt.close(fig)
    assert (
        "25 ~ v" in texts
    )  # mean (40+10)/2, mixed outcome, one seed's gradients vanishing at init
    assert (
        "18 ✗" in texts and "21" in texts
    )  # the seed's setting at depth 20 (failed), kaiming (learned)
    assert len(fig.axes) == 3  # two optimiser panels and the colour bar

    [sgd20] = [s for s in _rescue_sentences(blob) if "sgd)" in s]
    # Two seeds give no interval: the outcome flipped, but nothing is called different or equal.
    assert (
        "changing only model.init from default to kaiming makes it learn (best val 21.2 ± 1.1% vs "
        "17.9 ± 2.7%; +3.35 points, paired over 2 seeds: too few seeds for an interval" in sgd20
    )
    assert "rescues" not in sgd20
    s = grid_sentences(blob)
    assert any("mixed (1 learned, 1 failed) at 8" in x for x in s)
    assert any("over 2 seeds (0, 1)" in x for x in s)

    (tmp_path / "grid.json").write_text(json.dumps(blob))
    html = write_grid_report(tmp_path)[0].read_text()
    assert "mixed (1 learned, 1 failed)" in html and "25.00 ± 21.21" in html


def test_missing_or_damaged_grid_json_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no readable grid.json"):
        write_grid_report(tmp_path)
    (tmp_path / "grid.json").write_text("{not json")
    with pytest.raises(UserError, match="no readable grid.json"):
        write_grid_report(tmp_path)
    (tmp_path / "grid.json").write_text(json.dumps({"config": {}}))
    with pytest.raises(UserError, match="lacks axes, runs, summary"):
        write_grid_report(tmp_path)


def test_heatmap_without_optimiser_axis_or_depth_axis_is_one_panel():
    blob = _grid(_outcomes())
    only_sgd = [c for c in blob["summary"] if c["settings"]["optim.name"] == "sgd"]
    for c in only_sgd:
        c["settings"] = {k: v for k, v in c["settings"].items() if k != "optim.name"}
    fig = plots.grid_heatmap(only_sgd, blob["axes"][:2])
    assert len(fig.axes) == 2
    plots.plt.close(fig)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium not installed; the HTML is checked structurally above"
)
def test_grid_html_decodes_in_headless_chromium(tmp_path):
    (tmp_path / "grid.json").write_text(json.dumps(_grid(_outcomes())))
    page = write_grid_report(tmp_path)[0]
    proc = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            page.as_uri(),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert re.search(r'<body[^>]*data-images="1/1"', proc.stdout)


def test_report_command_rewrites_a_grid_report_with_its_analysis_sections(tmp_path):
    import torch
    from torch import nn

    from resnet_lab.cli import main
    from resnet_lab.mechanisms.shatter import shatter

    (tmp_path / "grid.json").write_text(json.dumps(_grid(_outcomes())))
    x, y = torch.randn(3, 2, 4, 4), torch.tensor([0, 1, 0])
    result = shatter(nn.Sequential(nn.Flatten(), nn.Linear(32, 2)), x, y, points=16, max_lag=4)
    entry = {
        "run": str(tmp_path / "depth8"),
        "label": "plain-8",
        "family": "plain",
        "depth": 8,
        "init": result,
        "final": result,
    }
    (tmp_path / "analysis").mkdir()
    (tmp_path / "analysis" / "shatter.json").write_text(json.dumps({"entries": [entry]}))
    assert main(["report", str(tmp_path)]) == 0
    md = (tmp_path / "grid.md").read_text()
    assert (
        "## Shattered gradients" in md
        and "plain-8 (plain, depth 8): init: neighbour correlation 1.000" in md
    )
    assert (tmp_path / "figures" / "analysis_shatter.png").is_file()
    assert (
        main(["report", str(tmp_path), "--out", str(tmp_path / "x")]) == 2
    )  # a grid report stays in its directory


CONTROL_KEYS = ["grid.model", "model.skip", "model.init", "optim.name", "optim.lr"]


def _controls(cells) -> dict:
    """A seed-controls-shaped grid.json: one joint axis; ``cells`` maps a settings tuple to per-seed
    best val accuracies (< 12 % counts as failed)."""
    runs, summary = [], []
    for values, accs in cells.items():
        settings = dict(zip(CONTROL_KEYS, values))
        outcomes = ["learned" if a >= 12 else "failed" for a in accs]
        cell = "-".join(str(v) for v in values)
        for seed, (a, o) in enumerate(zip(accs, outcomes)):
            runs.append(
                {
                    "cell": cell,
                    "run": f"{cell}_seed{seed}",
                    "seed": seed,
                    "settings": settings,
                    "outcome": o,
                    "best_val_acc": a,
                    "test_acc": a,
                    "verdict_init": "healthy",
                    "threshold_step": None,
                }
            )
        summary.append(
            {
                "cell": cell,
                "settings": settings,
                "seeds": list(range(len(accs))),
                "outcomes": {
                    k: outcomes.count(k) for k in ("learned", "failed", "diverged", "error")
                },
                "outcome": outcomes[0] if len(set(outcomes)) == 1 else "mixed",
                "best_val_acc": _ms(accs),
                "best_val_by_seed": dict(enumerate(accs)),
                "test_acc": _ms(accs),
                "threshold_step": None,
                "passed": 0,
                "verdicts_init": ["healthy"],
                "left_ln": 0,
            }
        )
    return {
        "config": {"model": {"norm": "none"}},
        "axes": [{"keys": CONTROL_KEYS, "values": [list(v) for v in cells]}],
        "seeds": [0, 1, 2],
        "threshold_acc": 20.0,
        "runs": runs,
        "summary": summary,
    }


def test_seed_controls_name_the_single_changes_that_rescue_the_failing_nets():
    cells = {
        ("deep_cnn", None, "default", "sgd", 0.01): [10.0, 10.0, 10.0],
        ("deep_cnn", None, "kaiming", "sgd", 0.01): [45.0, 47.0, 46.0],
        ("deep_cnn", None, "default", "adam", 0.001): [60.0, 61.0, 59.0],
        ("resnet_seed", False, "default", "sgd", 0.01): [10.0, 10.0, 10.0],
        ("resnet_seed", True, "default", "sgd", 0.01): [55.0, 56.0, 57.0],
    }
    text = grid_sentences(_controls(cells))
    deep = next(s for s in text if "with deep_cnn" in s and "the seed's setting" in s)
    assert (
        "changing only model.init from default to kaiming rescues it (best val 46.0 ± 1.0% vs "
        "10.0 ± 0.0%; +36.00 points, 95 % CI" in deep
    )
    assert "changing only the optimiser from sgd (lr 0.01) to adam (lr 0.001) rescues it" in deep
    res = next(s for s in text if "with resnet_seed" in s and "the seed's setting" in s)
    assert "changing only model.skip from false to true rescues it" in res
    assert not any(
        "with resnet_seed" in s and "skip" in s and "deep_cnn" in s for s in text
    )  # different nets
    cells[("deep_cnn", None, "kaiming", "sgd", 0.01)] = [10.0, 10.0, 10.0]
    deep = next(
        s
        for s in grid_sentences(_controls(cells))
        if "with deep_cnn" in s and "the seed's setting" in s
    )
    assert "model.init to kaiming (10.0 ± 0.0%) leaves it failing" in deep


def test_a_cell_of_another_network_is_not_called_a_single_change():
    cells = {
        ("deep_cnn", None, "default", "sgd", 0.01): [10.0, 10.0, 10.0],
        ("simple_cnn", None, "default", "sgd", 0.01): [60.0, 61.5, 59.0],
        ("deep_cnn", None, "kaiming", "sgd", 0.01): [45.0, 47.0, 46.0],
    }
    text = grid_sentences(_controls(cells))
    deep = next(s for s in text if "with deep_cnn" in s and "the seed's setting" in s)
    assert "another network (simple_cnn instead of deep_cnn, not one factor) rescues it" in deep
    assert "changing only the model" not in deep and "changing only grid.model" not in deep


def test_the_prediction_table_counts_predicted_against_observed_and_names_the_misses():
    from resnet_lab.reporting.grid_conclusions import _prediction_sentences, prediction_table

    def row(run, predicted, outcome):
        return {"run": run, "predicted_init": predicted, "outcome": outcome}

    rows = [
        row("a", "trains", "learned"),
        row("b", "trains", "learned"),
        row("c", "stays at ln C", "failed"),
        row("d", "diverges", "diverged"),
        row("e", "trains", "failed"),  # a miss: called fine, did not train
        row("f", "diverges", "learned"),  # a false alarm
        row("g", None, "failed"),  # from before the prediction: not counted
        row("h", "trains", "error"),  # raised: no outcome
    ]
    t = prediction_table(rows)
    assert t["runs"] == 6
    assert t["confusion"] == {
        "trains": {"learned": 2, "failed": 1},
        "stays at ln C": {"failed": 1},
        "diverges": {"diverged": 1, "learned": 1},
    }
    assert (t["sensitivity"].hits, t["sensitivity"].n) == (2, 3)
    assert (t["specificity"].hits, t["specificity"].n) == (2, 3)
    assert (t["hit_rate"].hits, t["hit_rate"].n) == (4, 6)
    assert [r["run"] for r in t["misses"]] == ["e", "f"]
    text = " ".join(_prediction_sentences(rows))
    assert "sensitivity 2/3 = 67 %" in text and "Mispredicted: e (predicted trains, failed)" in text
    assert prediction_table([row("g", None, "failed")]) is None
    assert _prediction_sentences([row("g", None, "failed")]) == []


def test_a_cell_shows_its_predicted_outcome_and_a_mark_where_a_run_came_out_otherwise():
    from resnet_lab.reporting.grid_conclusions import summarise
    from resnet_lab.reporting.plots import _cell_text

    def row(seed, predicted, outcome, acc):
        return {
            "cell": "c",
            "settings": {"model.depth": 20},
            "seed": seed,
            "outcome": outcome,
            "best_val_acc": acc,
            "test_acc": acc,
            "verdict_init": "healthy",
            "predicted_init": predicted,
        }

    right = summarise(
        [row(0, "stays at ln C", "failed", 10.0), row(1, "stays at ln C", "failed", 10.2)]
    )[0]
    assert right["predicted_init"] == ["stays at ln C"] and right["mispredicted"] == 0
    assert _cell_text(right) == "10 ✗ →s"
    wrong = summarise(
        [row(0, "stays at ln C", "learned", 30.0), row(1, "trains", "learned", 32.0)]
    )[0]
    assert wrong["mispredicted"] == 1 and _cell_text(wrong) == "31 →s!"
    old = summarise([{**row(0, None, "learned", 30.0), "predicted_init": None}])[0]
    assert old["predicted_init"] == [] and _cell_text(old) == "30"


def test_grid_rows_are_rejudged_from_their_run_directories_probes(tmp_path):
    import json

    import torch
    import yaml
    from torch import nn

    import resnet_lab as rl
    from resnet_lab.reporting.grid_report import rejudged

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 30 * 30, 10))
    data = rl.data.synthetic(n_train=300, n_test=100)
    diagnosis = rl.diagnose(net, data, lr=0.01, momentum=0.9)
    run = tmp_path / "cell_seed0"
    run.mkdir()
    (run / "diagnosis.json").write_text(json.dumps(diagnosis))
    optim = {"name": "sgd", "lr": 0.01, "momentum": 0.9, "warmup_lr": None}
    (run / "config.yaml").write_text(yaml.safe_dump({"optim": optim}))
    stale = {"run": "cell_seed0", "verdict_init": "a retired label", "predicted_init": "retired"}
    moved = {"run": "elsewhere_seed0", "verdict_init": "kept", "predicted_init": None}
    new, kept = rejudged([stale, moved], tmp_path)
    assert new["verdict_init"] == diagnosis["verdict"]["init"]["verdict"]
    assert new["predicted_init"] == diagnosis["prediction"]["outcome"]
    assert kept == moved  # no run directory here: the row as it was


def test_precision_settings_are_labelled_by_what_they_mean():
    from resnet_lab.reporting.grid_conclusions import settings_label

    assert settings_label({"model.width_mult": 1.0, "train.amp": "off"}) == "width_mult 1, fp32"
    assert settings_label({"train.amp": "bf16"}) == "bf16"
