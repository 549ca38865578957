"""The report: computed conclusions, self-contained HTML checked structurally and in headless Chromium."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from PIL import Image

from conftest import smoke_compare
from resnet_lab.cli import main
from resnet_lab.reporting.conclusions import conclusions

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def smoke_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "run"
    assert main(["compare", "--preset", "smoke", "--out", str(out), "--diag-every", "10"]) == 0
    return out


FAMILY = {"resnet_seed": ("resnet_seed", True), "resnet_seed_plain": ("resnet_seed", False)}


def _model(
    name, test_acc, status="learned", problem="none", optimizer="sgd", seed=0, run="r", **changes
):
    """A constructed model run as report.read_compare gives it, with resolved settings for attribution."""
    family, skip = FAMILY.get(name, (name, None))
    settings = {
        "model.family": family,
        "model.width_mult": 0.25,
        "model.init": "default",
        "optim.name": optimizer,
        "optim.lr": 0.01 if optimizer == "sgd" else 0.001,
        "train.epochs": 8,
    }
    if skip is not None:
        settings["model.skip"] = skip
    settings.update(changes)
    return {
        "name": name,
        "label": name if run == "r" else f"{name} ({run})",
        "optimizer": optimizer,
        "seed": seed,
        "history": [],
        "diagnosis": None,
        "run": run,
        "settings": settings,
        "row": {
            "test_acc": test_acc,
            "best_val_acc": test_acc + 1,
            "best_val_epoch": 3,
            "status": status,
            "problem": problem,
        },
    }


STUCK = "loss stayed at ln 10 = 2.3026 (within 0.01) for all 8 epochs: no learning"


def test_conclusions_follow_the_numbers():
    a = conclusions(
        [
            _model("simple_cnn", 64.67),
            _model("deep_cnn", 10.0, "failed", STUCK),
            _model("resnet_seed", 69.96),
        ]
    )
    assert a[0].startswith("The seed's ordering ResNet > SimpleCNN > DeepCNN holds in the means")
    assert "with one seed it is not tested against seed-to-seed variation" in a[0]
    assert (
        "resnet_seed − simple_cnn: +5.29 points, paired over 1 seed: too few seeds for an interval "
        "(at least 3 per side); not tested against seed-to-seed variation." in a
    )
    assert any("deep_cnn failed (test accuracy 10.00%): loss stayed at ln 10" in s for s in a)
    b = conclusions(
        [_model("simple_cnn", 71.5), _model("deep_cnn", 55.0), _model("resnet_seed", 70.9)]
    )
    assert "does not hold" in b[0]
    assert a != b


def test_skip_effect_is_claimed_only_from_the_controlled_pair():
    pair = [_model("resnet_seed", 69.9), _model("resnet_seed_plain", 10.0, "failed", STUCK)]
    s = conclusions([_model("deep_cnn", 10.0, "failed", STUCK)] + pair)
    claim = [x for x in s if "differ in the skip connections alone" in x]
    assert len(claim) == 1 and claim[0].startswith("resnet_seed and resnet_seed_plain")
    # One seed each: learned vs failed is not shown (Fisher's exact test, 1/1 vs 0/1: p = 1).
    assert "does not show that the skip connections decide" in claim[0]
    assert "1/1 vs 0/1 learned, Fisher's exact test p = 1: not shown" in claim[0]
    note = next(x for x in s if x.startswith("deep_cnn (failed"))
    assert (
        "different networks (model.family deep_cnn vs resnet_seed" in note
        and "the controlled pair above" in note
    )

    # The seed's own pair alone: no skip claim, and the note says what would measure it.
    s = conclusions([_model("deep_cnn", 10.0, "failed", STUCK), _model("resnet_seed", 69.9)])
    assert not any("skip connections alone" in x or "With skip connections" in x for x in s)
    assert any("compare resnet_seed with resnet_seed_plain" in x for x in s)

    # The same pair but trained for different epochs: two factors, so nothing is attributed.
    s = conclusions(
        [
            _model("resnet_seed", 69.9),
            _model("resnet_seed_plain", 10.0, "failed", STUCK, **{"train.epochs": 20}),
        ]
    )
    assert not any("alone" in x for x in s)

    # Both learn: the sentence compares them instead of crediting the skips with learning.
    s = conclusions([_model("resnet_seed", 69.9), _model("resnet_seed_plain", 60.0)])
    claim = next(x for x in s if "skip connections alone" in x)
    assert "decide" not in claim and "not tested against seed-to-seed variation" in claim


def _seeds(name, accs, **kw):
    return [_model(name, a, seed=i, **kw) for i, a in enumerate(accs)]


def test_seed_spread_decides_what_is_called_different():
    apart = conclusions(
        _seeds("resnet_seed", [70.0, 71.0, 72.0]) + _seeds("resnet_seed_plain", [60.0, 60.5, 62.5])
    )
    claim = next(x for x in apart if "skip connections alone" in x)
    # Per-seed gaps 10.0, 10.5, 9.5: the paired t interval (scipy) excludes 0.
    assert (
        "resnet_seed is higher than resnet_seed_plain (resnet_seed − resnet_seed_plain: +10.00 "
        "points, 95 % CI +8.76 to +11.24, paired t over 3 seeds, p = 0.00083: shown)" in claim
    )
    assert "71.00% ± 1.00%, n=3" in claim
    close = conclusions(
        _seeds("resnet_seed", [70.0, 66.0, 74.0]) + _seeds("resnet_seed_plain", [65.0, 68.0, 71.0])
    )
    claim = next(x for x in close if "skip connections alone" in x)
    assert "are not distinguishable (resnet_seed − resnet_seed_plain: +2.00 points" in claim
    assert "paired t over 3 seeds" in claim and "not shown (the interval covers 0)" in claim
    assert any("± is the standard deviation over seeds" in x for x in close)
    assert any("95 % t interval" in x and "excludes 0" in x for x in close)  # the rule, stated
    order = conclusions(
        _seeds("resnet_seed", [70.0, 66.0, 74.0])
        + _seeds("simple_cnn", [65.0, 68.0, 69.0])
        + _seeds("deep_cnn", [10.0, 10.0, 10.0], status="failed", problem=STUCK)
    )
    assert (
        "holds in the means" in order[0]
        and "resnet_seed and simple_cnn are not distinguishable (resnet_seed − simple_cnn"
        in order[0]
    )
    assert any(x.startswith("deep_cnn failed in every seed (seeds 0, 1, 2)") for x in order)


def test_optimizer_effect_needs_runs_that_differ_only_in_the_optimizer():
    runs = [
        _model("deep_cnn", 10.0, "failed", STUCK, optimizer="sgd", run="quick-sgd"),
        _model("deep_cnn", 63.1, optimizer="adam", run="quick-adam"),
    ]
    s = conclusions(runs)
    claim = next(x for x in s if "differ in the optimiser alone" in x)
    assert "optim.lr 0.01 vs 0.001" in claim and "does not show that the optimiser decides" in claim
    runs[1]["settings"]["train.epochs"] = 20
    s = conclusions(runs)
    assert not any("optimiser alone" in x for x in s)
    assert any(
        "differ in more than one factor (optim.lr 0.01 vs 0.001, optim.name sgd vs adam, train.epochs 8 vs 20)"
        in x
        for x in s
    )


def test_spread_sentence_counts_seeds():
    assert any("single seed (0)" in s for s in conclusions([_model("a", 50.0), _model("b", 40.0)]))
    assert any(
        "Runs use 2 seeds (0, 1)" in s
        for s in conclusions([_model("a", 50.0), _model("a", 52.0, seed=1)])
    )


def _imgs(html: str) -> list[str]:
    return re.findall(r"<img[^>]*src='([^']*)'", html)


def test_html_is_self_contained_and_markdown_has_its_pngs(smoke_report):
    html = (smoke_report / "report.html").read_text()
    srcs = _imgs(html)
    assert len(srcs) == 4
    for src in srcs:
        assert src.startswith("data:image/png;base64,")
        img = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
        assert img.size[0] > 300 and img.size[1] > 200
    assert not re.search(r"(src|href)=['\"]?(https?:)?//", html)
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    for heading in (
        "Conclusions",
        "Results",
        "Learning curves",
        "Gradient flow",
        "Layer responses",
        "Predictions before and after training",
        "Provenance",
    ):
        assert f"<h2>{heading}" in html
    md = (smoke_report / "report.md").read_text()
    for link in re.findall(r"\]\((figures/[^)]+\.png)\)", md):
        assert (smoke_report / link).is_file()
    results = json.loads((smoke_report / "results.json").read_text())
    for row in results["results"]:  # the table shows the run's own numbers
        assert f"{row['test_acc']:.2f}%" in html and f"{row['test_acc']:.2f}%" in md
    assert results["provenance"]["torch"] in html and results["provenance"]["cpu"] in html


def _page_requests(netlog: Path) -> list[str]:
    """http(s)/ws URLs requested on behalf of the file:// page (Chromium's own background requests
    to its update and account services are keyed to other sites and are not the page's doing)."""
    log = json.loads(netlog.read_text())
    types = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    urls, page_sources = {}, set()
    for e in log["events"]:
        p, kind = e.get("params", {}), types[e["type"]]
        if kind == "REQUEST_ALIVE" and "url" in p:
            urls[e["source"]["id"]] = p["url"]
        if kind == "URL_REQUEST_START_JOB" and "file://" in p.get("network_isolation_key", ""):
            page_sources.add(e["source"]["id"])
    return [urls[s] for s in page_sources if s in urls and urls[s].startswith(("http", "ws"))]


def _chromium(page: Path, tmp: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            CHROMIUM,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp / 'profile'}",
            f"--log-net-log={tmp / 'net.json'}",
            "--virtual-time-budget=5000",
            *extra,
            page.as_uri(),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium not installed (.ci/run installs Debian's chromium); "
    "the HTML is still checked structurally above",
)
def test_report_renders_in_headless_chromium_without_network(smoke_report, tmp_path):
    page = smoke_report / "report.html"
    dom = _chromium(page, tmp_path / "a", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert re.search(r'<body[^>]*data-images="4/4"', dom.stdout), "not every <img> decoded"
    assert _page_requests(tmp_path / "a" / "net.json") == []

    shot = tmp_path / "shot.png"
    proc = _chromium(
        page, tmp_path / "b", f"--screenshot={shot}", "--window-size=1280,2400", "--hide-scrollbars"
    )
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-2000:]
    img = Image.open(shot).convert("L")
    colours = img.getcolors(maxcolors=1 << 16) or []
    assert img.size == (1280, 2400) and len(colours) > 50  # text and plots, not a blank page


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium not installed")
def test_the_network_check_catches_a_page_that_fetches(tmp_path):
    page = tmp_path / "leaky.html"
    page.write_text(
        "<html><body><img src='http://192.0.2.1/x.png'></body></html>"
    )  # TEST-NET-1, unroutable
    _chromium(page, tmp_path / "c", "--dump-dom")
    assert _page_requests(tmp_path / "c" / "net.json") == ["http://192.0.2.1/x.png"]


def test_report_of_a_directory_that_is_not_a_run(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no results.json" in err[0]


def test_report_out_that_is_a_file_is_one_line_and_the_file_is_kept(smoke_report, tmp_path, capsys):
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    assert main(["report", str(smoke_report), "--out", str(target)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a file, not a directory" in err[0]
    assert target.read_text() == "mine"


def test_combined_report_of_two_runs_labels_models_by_optimizer(smoke_report, tmp_path):
    other = tmp_path / "adam"
    assert smoke_compare(other, "--optimizer", "adam", "--lr", "0.001", "--models", "deep_cnn") == 0
    assert main(["report", str(smoke_report), str(other), "--out", str(tmp_path / "both")]) == 0
    md = (tmp_path / "both" / "report.md").read_text()
    assert "| deep_cnn (sgd) |" in md and "| deep_cnn (adam) |" in md
    assert (
        "- deep_cnn (sgd) and deep_cnn (adam) differ in the optimiser alone (optim.lr 0.01 vs 0.001, "
        "optim.name sgd vs adam)" in md
    )


def test_report_on_runs_written_before_settings_were_recorded_attributes_nothing(
    smoke_report, tmp_path
):
    """Run directories from an older resnet-lab (no seed/run in the rows, no architecture or precision
    in run.json, no weight_std in diagnosis.json) still report, without attribution sentences."""
    old = tmp_path / "old"
    shutil.copytree(smoke_report, old)
    blob = json.loads((old / "results.json").read_text())
    for row in blob["results"]:
        row.pop("seed", None), row.pop("run", None)
        info = json.loads((old / row["model"] / "run.json").read_text())
        info.pop("architecture"), info.pop("precision")
        (old / row["model"] / "run.json").write_text(json.dumps(info))
        diag = json.loads((old / row["model"] / "diagnosis.json").read_text())
        for phase in diag["probe"].values():
            for layer in phase["layers"]:
                layer.pop("weight_std", None)
        (old / row["model"] / "diagnosis.json").write_text(json.dumps(diag))
    (old / "results.json").write_text(json.dumps(blob))
    assert main(["report", str(old)]) == 0
    md = (old / "report.md").read_text()
    assert "alone" not in md and "different networks" not in md and "## Layer responses" in md


def test_two_compares_in_folders_of_the_same_name_stay_apart(smoke_report, tmp_path):
    twin = tmp_path / "elsewhere" / smoke_report.name
    shutil.copytree(smoke_report, twin)
    assert main(["report", str(smoke_report), str(twin), "--out", str(tmp_path / "both")]) == 0
    md = (tmp_path / "both" / "report.md").read_text()
    assert "n=2" not in md  # not pooled as two seeds of one model
    assert md.count("| deep_cnn (") == 2
    assert main(["report", str(smoke_report), str(smoke_report), "--out", str(tmp_path / "x")]) == 2


def test_compare_over_seeds_reports_mean_and_std(tmp_path, capsys):
    out = tmp_path / "seeds"
    assert (
        main(
            [
                "compare",
                "--preset",
                "smoke",
                "--epochs",
                "1",
                "--seeds",
                "0,1",
                "--no-tensorboard",
                "--models",
                "resnet_seed,resnet_seed_plain",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    blob = json.loads((out / "results.json").read_text())
    assert [(r["model"], r["seed"], r["run"]) for r in blob["results"]] == [
        ("resnet_seed", 0, "resnet_seed_seed0"),
        ("resnet_seed", 1, "resnet_seed_seed1"),
        ("resnet_seed_plain", 0, "resnet_seed_plain_seed0"),
        ("resnet_seed_plain", 1, "resnet_seed_plain_seed1"),
    ]
    summary = {s["model"]: s for s in blob["summary"]}
    accs = [r["test_acc"] for r in blob["results"] if r["model"] == "resnet_seed"]
    assert summary["resnet_seed"]["n"] == 2 and summary["resnet_seed"]["test_acc"][
        0
    ] == pytest.approx(sum(accs) / 2)
    seeds = {
        yaml.safe_load((out / r["run"] / "config.yaml").read_text())["train"]["seed"]
        for r in blob["results"]
    }
    assert seeds == {0, 1}  # each run trained with its own seed
    md = (out / "report.md").read_text()
    assert "| resnet_seed | " in md and "n=2" in md and "wall time per run" in md
    assert any("differ in the skip connections alone" in line for line in md.splitlines())
    assert re.search(
        r"\| resnet_seed_plain \| 63,562 \| 2 \| [0-2]/2 \| [\d.]+% ± [\d.]+%",
        (out / "results.md").read_text(),
    )
    capsys.readouterr()
    assert main(["compare", "--resume", str(out)]) == 0  # every run finished: all skipped
    assert capsys.readouterr().out.count("finished earlier, skipped") == 4


def _probe(acts, grads):
    return {
        "verdict": {"init": {"verdict": "x", "evidence": ["e"], "first_to_last": None}},
        "probe": {
            "init": {
                "layers": [
                    {"name": f"conv{i + 1}", "act_std": a, "grad_norm": g}
                    for i, (a, g) in enumerate(zip(acts, grads))
                ]
            }
        },
    }


def test_signal_collapse_is_stated_only_when_both_directions_shrink():
    from resnet_lab.reporting.conclusions import signal_collapse

    both = signal_collapse(_probe([0.53, 0.1, 0.014], [4e-5, 1e-3, 0.017]))
    assert both and "38-fold forward" in both and "425-fold backward" in both
    assert (
        signal_collapse(_probe([0.53, 0.1, 0.014], [0.1, 0.2, 0.3])) is None
    )  # gradients reach conv1
    assert (
        signal_collapse(_probe([0.5, 0.4, 0.3], [4e-5, 1e-3, 0.017])) is None
    )  # responses hold up


def test_equal_means_are_tied_in_the_ranking_not_ordered():
    s = conclusions(
        [
            _model("resnet_seed", 69.0),
            _model("deep_cnn", 10.0, "failed", STUCK),
            _model("resnet_seed_plain", 10.0, "failed", STUCK),
        ]
    )
    ranking = next(x for x in s if x.startswith("Ranking"))
    assert "resnet_seed 69.00% > deep_cnn 10.00% = resnet_seed_plain 10.00%" in ranking


def test_a_rebuilt_report_judges_the_stored_probes_by_todays_rules(smoke_report, tmp_path):
    """A run whose stored verdict and prediction came from a rule that no longer exists (written
    here as a made-up label) is reported with today's, computed from its stored probe."""
    from resnet_lab.diagnostics.rejudge import rejudge
    from resnet_lab.reporting.report import read_compare

    old = tmp_path / "old"
    shutil.copytree(smoke_report, old)
    blob = json.loads((old / "results.json").read_text())
    today = {}
    for row in blob["results"]:
        diag = json.loads((old / row["run"] / "diagnosis.json").read_text())
        today[row["model"]] = diag["verdict"]["init"]["verdict"], diag["prediction"]["outcome"]
        diag["verdict"]["init"]["verdict"] = "a retired rule's label"
        diag["prediction"]["outcome"] = "a retired prediction"
        (old / row["run"] / "diagnosis.json").write_text(json.dumps(diag))
        row["verdict_init"], row["predicted_init"] = (
            "a retired rule's label",
            "a retired prediction",
        )
    (old / "results.json").write_text(json.dumps(blob))
    for m in read_compare(old)["models"]:
        verdict, predicted = today[m["name"]]
        assert m["row"]["verdict_init"] == m["diagnosis"]["verdict"]["init"]["verdict"] == verdict
        assert m["row"]["predicted_init"] == m["diagnosis"]["prediction"]["outcome"] == predicted
    assert main(["report", str(old)]) == 0
    assert "retired" not in (old / "report.md").read_text()
    # A probe without the statistics the prediction reads gets no prediction, not half a one.
    diag = json.loads((old / blob["results"][0]["run"] / "diagnosis.json").read_text())
    for layer in diag["probe"]["init"]["layers"]:
        layer.pop("input_corr")
    optim = yaml.safe_load((old / blob["results"][0]["run"] / "config.yaml").read_text())["optim"]
    assert "prediction" not in rejudge(diag, optim)
    assert rejudge({"verdict": "unreadable"}, optim) == {"verdict": "unreadable"}


def test_a_rebuilt_report_is_rewritten_only_when_more_than_its_time_changed(tmp_path, monkeypatch):
    from resnet_lab.reporting import report

    def write(when: str, conclusion: str) -> tuple:
        monkeypatch.setattr(report, "_written_now", lambda: f"report written {when} UTC")
        page = report.Page("t", "study", [conclusion], ([], []), [], [], [], [])
        return report.write_pages(tmp_path, page, stem="grid")

    html, md = write("2026-01-01 10:00", "A.")
    write("2026-01-02 11:00", "A.")
    assert "2026-01-01 10:00" in md.read_text() and "2026-01-01 10:00" in html.read_text()
    write("2026-01-03 12:00", "B.")
    assert "2026-01-03 12:00" in md.read_text() and "B." in md.read_text()
    assert "2026-01-03 12:00" in html.read_text()
