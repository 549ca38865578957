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
from PIL import Image

from resnet_lab.cli import main
from resnet_lab.reporting.conclusions import conclusions

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--no-first-run", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def smoke_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "run"
    assert main(["compare", "--preset", "smoke", "--out", str(out), "--diag-every", "10"]) == 0
    return out


def _model(name, test_acc, status="learned", problem="none", optimizer="sgd", seed=0):
    return {"name": name, "label": name, "optimizer": optimizer, "seed": seed, "history": [],
            "diagnosis": None,
            "row": {"test_acc": test_acc, "best_val_acc": test_acc + 1, "best_val_epoch": 3, "status": status,
                    "problem": problem}}


def test_conclusions_follow_the_numbers():
    stuck = "loss stayed at ln 10 = 2.3026 (within 0.01) for all 8 epochs: no learning"
    a = conclusions([_model("simple_cnn", 64.67), _model("deep_cnn", 10.0, "failed", stuck),
                     _model("resnet_seed", 69.96)])
    assert "The seed's ordering ResNet > SimpleCNN > DeepCNN holds here" in a[0]
    assert "resnet_seed beat simple_cnn by 5.29 points (69.96% vs 64.67%)." in a
    assert any(s.startswith("With skip connections the deep network learned (resnet_seed 69.96%)") for s in a)
    assert any("deep_cnn failed (test accuracy 10.00%): loss stayed at ln 10" in s for s in a)

    b = conclusions([_model("simple_cnn", 71.5), _model("deep_cnn", 55.0), _model("resnet_seed", 70.9)])
    assert "does not hold" in b[0]
    assert "simple_cnn and resnet_seed are within about a point (71.50% vs 70.90%, 0.60 points)." in b
    assert any("this run does not show the plain net failing" in s for s in b)
    assert not any("With skip connections" in s for s in b)
    assert a != b


def test_optimizer_dependence_is_stated_only_when_outcomes_differ():
    runs = [_model("deep_cnn", 10.0, "failed", optimizer="sgd"), _model("deep_cnn", 63.1, optimizer="adam"),
            _model("resnet_seed", 70.0, optimizer="sgd"), _model("resnet_seed", 72.0, optimizer="adam")]
    s = conclusions(runs)
    assert "deep_cnn depends on the optimiser: it learned with adam (63.10%), failed with sgd (10.00%)." in s
    assert "resnet_seed learned with every optimiser tried: learned with adam (72.00%), learned with sgd (70.00%)." in s


def test_spread_sentence_counts_seeds():
    assert any("single seed (0)" in s for s in conclusions([_model("a", 50.0), _model("b", 40.0)]))
    assert any("Runs use 2 seeds (0, 1)" in s for s in conclusions([_model("a", 50.0), _model("a", 52.0, seed=1)]))


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
    for heading in ("Conclusions", "Results", "Learning curves", "Gradient flow", "Layer responses",
                    "Predictions before and after training", "Provenance"):
        assert f"<h2>{heading}" in html
    md = (smoke_report / "report.md").read_text()
    for link in re.findall(r"\]\((figures/[^)]+\.png)\)", md):
        assert (smoke_report / link).is_file()
    results = json.loads((smoke_report / "results.json").read_text())
    for row in results["results"]:  # the table shows the run's own numbers
        assert f"{row['test_acc']:.2f}%" in html and f"{row['test_acc']:.2f}%" in md
    assert results["provenance"]["torch"] in html


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
    return subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={tmp / 'profile'}",
                           f"--log-net-log={tmp / 'net.json'}", "--virtual-time-budget=5000", *extra,
                           page.as_uri()], capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium not installed (.ci/run installs Debian's chromium); "
                                              "the HTML is still checked structurally above")
def test_report_renders_in_headless_chromium_without_network(smoke_report, tmp_path):
    page = smoke_report / "report.html"
    dom = _chromium(page, tmp_path / "a", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert re.search(r'<body[^>]*data-images="4/4"', dom.stdout), "not every <img> decoded"
    assert _page_requests(tmp_path / "a" / "net.json") == []

    shot = tmp_path / "shot.png"
    proc = _chromium(page, tmp_path / "b", f"--screenshot={shot}", "--window-size=1280,2400",
                     "--hide-scrollbars")
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-2000:]
    img = Image.open(shot).convert("L")
    colours = img.getcolors(maxcolors=1 << 16) or []
    assert img.size == (1280, 2400) and len(colours) > 50  # text and plots, not a blank page


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium not installed")
def test_the_network_check_catches_a_page_that_fetches(tmp_path):
    page = tmp_path / "leaky.html"
    page.write_text("<html><body><img src='http://192.0.2.1/x.png'></body></html>")  # TEST-NET-1, unroutable
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
    assert main(["compare", "--preset", "smoke", "--out", str(other), "--optimizer", "adam", "--lr", "0.001",
                 "--models", "deep_cnn"]) == 0
    assert main(["report", str(smoke_report), str(other), "--out", str(tmp_path / "both")]) == 0
    md = (tmp_path / "both" / "report.md").read_text()
    assert "| deep_cnn (sgd) |" in md and "| deep_cnn (adam) |" in md
    assert "deep_cnn" in md and "optimiser" in md
