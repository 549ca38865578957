"""``resnet-lab report``: one self-contained HTML file and the same content as Markdown + PNGs.

Reads only what a run directory holds (results.json, each model's metrics.jsonl, run.json and
diagnosis.json), so a report can be rebuilt at any time, and several runs (e.g. the same compare
with SGD and with Adam) can be reported together.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import json
import re
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from ..errors import UserError
from ..files import atomic_write_bytes, read_history, write_text
from ..outcome import Outcome
from ..spread import fmt, mean_std
from . import plots
from .attribution import run_settings
from .conclusions import acc_text, conclusions, conditions, outcome
from .survival import escapes

FIGURES = (  # (file stem, title), in page order
    ("learning_curves", "Learning curves"),
    ("gradient_flow", "Gradient flow"),
    ("layer_responses", "Layer responses and weight change"),
    ("predictions", "Predictions before and after training"),
)


def read_study(study_dir: Path, filename: str, command: str) -> Any:
    """The JSON summary ``filename`` that ``command`` wrote into ``study_dir``; a UserError if absent."""
    try:
        return json.loads((study_dir / filename).read_text())
    except (OSError, ValueError):
        raise UserError(
            f"{study_dir} has no readable {filename}: pass the --out directory of a finished "
            f"'{command}'"
        ) from None


def read_compare(run_dir: str | Path) -> dict[str, Any]:
    """A finished compare run: config, provenance and, per model, its row, history and diagnosis
    (verdicts judged again by today's rules from the stored probes)."""
    from ..diagnostics.rejudge import rejudged

    run_dir = Path(run_dir)
    results = run_dir / "results.json"
    if not results.is_file():
        raise UserError(
            f"{run_dir} has no results.json: it is not a finished resnet-lab compare run; "
            "pass the --out directory of a completed 'resnet-lab compare'"
        )
    try:
        blob = json.loads(results.read_text())
        models = []
        for row in blob["results"]:
            mdir = run_dir / row.get(
                "run", row["model"]
            )  # <model>/, or <model>_seed<s>/ with --seeds
            history = read_history(mdir / "metrics.jsonl")
            diag = mdir / "diagnosis.json"
            info = json.loads((mdir / "run.json").read_text())
            own = mdir / "config.yaml"  # the run's resolved config (its own seed)
            config = yaml.safe_load(own.read_text()) if own.is_file() else blob["config"]
            if not isinstance(config, dict):
                raise TypeError(f"{own} holds no settings")
            # Runs written before the network and precision were recorded cannot be compared factor by
            # factor: no settings, so no attribution sentence uses them.
            settings = (
                run_settings(
                    config, info["architecture"], info["precision"], blob["provenance"].get("data")
                )
                if "architecture" in info and "precision" in info
                else None
            )
            # Verdicts and predictions by today's rules from the stored probes (diagnostics/rejudge.py).
            stored = json.loads(diag.read_text()) if diag.is_file() else None
            row, diagnosis = rejudged(row, stored, config["optim"])
            models.append(
                {
                    "name": row["model"],
                    "row": row,
                    "history": history,
                    "diagnosis": diagnosis,
                    "optimizer": config["optim"]["name"],
                    "seed": row.get("seed", config["train"]["seed"]),
                    "run": run_dir.name,
                    "run_id": str(run_dir.resolve()),
                    "settings": settings,
                }
            )
    except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError) as exc:
        raise UserError(
            f"{run_dir} is incomplete or damaged ({type(exc).__name__}: {exc}); re-run the compare"
        ) from None
    return {
        "dir": run_dir,
        "config": blob["config"],
        "provenance": blob["provenance"],
        "models": models,
        "summary": blob.get("summary"),  # per model, mean +- std over seeds (not in old runs)
    }


def _label(runs: list[dict[str, Any]]) -> None:
    optimizers = {r["config"]["optim"]["name"] for r in runs}
    for r in runs:
        for m in r["models"]:
            if len(runs) == 1:
                m["label"] = m["name"]
            elif len(optimizers) == len(runs):
                m["label"] = f"{m['name']} ({m['optimizer']})"
            else:
                m["label"] = f"{m['name']} ({m['run']})"


def png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plots.plt.close(fig)
    return buf.getvalue()


def _figures(
    conds: list[dict[str, Any]], num_classes: int, classes: list[str]
) -> list[tuple[str, str, bytes]]:
    # Curves: every seed of a condition (mean and a ±std band); per-layer figures: its first seed.
    firsts = [
        {
            **c["entries"][0],
            "label": c["label"]
            + (f" (seed {c['entries'][0]['seed']})" if len(c["entries"]) > 1 else ""),
        }
        for c in conds
    ]
    makers = {
        "learning_curves": lambda: plots.learning_curves(conds, num_classes),
        "gradient_flow": lambda: plots.gradient_flow(firsts),
        "layer_responses": lambda: plots.layer_responses(firsts),
        "predictions": lambda: plots.prediction_histograms(firsts, classes),
    }
    have_diag = any(
        m.get("diagnosis") for m in firsts
    )  # without diagnostics only the curves can be drawn
    figures = [
        (stem, title, png(makers[stem]()))
        for stem, title in FIGURES
        if stem == "learning_curves" or have_diag
    ]
    groups = [escapes(c["label"], [m["row"] for m in c["entries"]]) for c in conds]
    if any(g.n for g in groups):
        title = f"Fraction of runs still at ln {num_classes} against steps (Kaplan-Meier)"
        figure = png(plots.plateau_survival([g for g in groups if g.n], num_classes))
        figures.insert(1, ("plateau_survival", title, figure))
    return figures


def _table(conds: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    if all(len(c["entries"]) == 1 for c in conds):
        header = ["model", "params", "best val acc", "test acc", "status", "left ln C at step"]
        header += ["problem", "wall time"]
        rows = [
            [
                c["label"],
                f"{m['row']['params']:,}",
                f"{m['row']['best_val_acc']:.2f}% (ep {m['row']['best_val_epoch']})",
                f"{m['row']['test_acc']:.2f}%",
                m["row"]["status"],
                escapes(c["label"], [m["row"]]).text(),
                m["row"]["problem"],
                f"{m['row']['seconds']:.0f} s",
            ]
            for c in conds
            for m in c["entries"]
        ]
        return header, rows
    header = [
        "model",
        "params",
        "seeds",
        "status",
        "best val acc",
        "test acc",
        "left ln C at step",
        "problem (first seed)",
        "wall time per run",
    ]
    rows = []
    for c in conds:
        first = c["entries"][0]["row"]
        status = outcome(c)
        rows.append(
            [
                c["label"],
                f"{first['params']:,}",
                ", ".join(str(m["seed"]) for m in c["entries"]),
                Outcome.LEARNED
                if status.startswith("learned in every")
                else Outcome.FAILED
                if status.startswith(Outcome.FAILED)
                else status,
                acc_text(c, "best_val_acc"),
                acc_text(c),
                escapes(c["label"], [m["row"] for m in c["entries"]]).text(),
                first["problem"],
                fmt(mean_std([m["row"]["seconds"] for m in c["entries"]]), 0, " s"),
            ]
        )
    return header, rows


def device_text(p: dict[str, Any]) -> str:
    """The machine of a run or study as its provenance records it (the CPU where recorded)."""
    return f"{p.get('device')} ({p.get('cpu_threads')} CPU threads)" + (
        f", CPU {p['cpu']}" if p.get("cpu") else ""
    )


def study_provenance(
    p: dict[str, Any], extra: list[tuple[str, str]] | None = None
) -> list[tuple[str, str]]:
    """The provenance rows of a study (sweep, grid): its command, data, ``extra``, machine, versions."""
    return [
        ("command", p.get("command", "")),
        ("data", p.get("data", "")),
        *(extra or []),
        ("device", device_text(p)),
        ("versions", f"torch {p.get('torch')}, torchvision {p.get('torchvision')}"),
        (
            "started / finished",
            f"{p.get('started')} / {p.get('finished')}"
            + (f" (last resumed {p['resumed']})" if p.get("resumed") else ""),
        ),
        # A report of several grids together, some possibly not finished (grid_report.merge_grids).
        *([("reported together", p["merged_from"])] if p.get("merged_from") else []),
        *([("not finished", p["unfinished"])] if p.get("unfinished") else []),
    ]


def settings_yaml(cfg: dict[str, Any], unread: tuple[str, ...]) -> str:
    """A study's resolved config without the sections it does not read, which would otherwise name
    nets and seeds it did not train (e.g. compare's model list in a sweep)."""
    return yaml.safe_dump({k: v for k, v in cfg.items() if k not in unread}, sort_keys=False)


def provenance_items(runs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    items = []
    for r in runs:
        p, c = r["provenance"], r["config"]
        prefix = f"{r['dir'].name}: " if len(runs) > 1 else ""
        items += [
            (f"{prefix}command", p.get("command", "")),
            (f"{prefix}data", p.get("data", "")),
            (f"{prefix}seed / split seed", f"{c['train']['seed']} / {c['data']['split_seed']}"),
            (
                f"{prefix}device",
                f"{device_text(p)}, host {p.get('host')}",
            ),
            (
                f"{prefix}versions",
                (
                    f"python {p.get('python')}, torch {p.get('torch')}, torchvision "
                    f"{p.get('torchvision')}, numpy {p.get('numpy')}; {p.get('platform')}"
                ),
            ),
            (f"{prefix}started / finished", f"{p.get('started')} / {p.get('finished')}"),
        ]
    return items


def diagnosis_lines(m: dict[str, Any]) -> list[str]:
    d = m.get("diagnosis")
    if not d:
        return ["no diagnostics recorded"]
    out = []
    for phase, v in d["verdict"].items():
        out.append(
            f"{'at initialisation' if phase == 'init' else 'after training'}: {v['verdict']} — "
            + "; ".join(v["evidence"])
        )
    if "finding" in d:
        out.append(d["finding"]["text"])
    return out


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1180px;margin:2em auto;padding:0 1em;
color:#1a1a1a;line-height:1.45}
h1{margin-bottom:.1em}.sub{color:#555;margin-top:0}
table{border-collapse:collapse;margin:1em 0;font-size:.92em}th,td{border:1px solid #ccc;padding:.35em .6em;
vertical-align:top;text-align:left}th{background:#f2f2f2}
td.learned{background:#e8f6e8}td.failed{background:#fbe3e3}
img{max-width:100%;border:1px solid #ddd;margin:.5em 0}
ul.concl li{margin:.3em 0}pre{background:#f6f6f6;padding:.8em;overflow-x:auto;font-size:.85em}
"""


# Marks <body data-images="decoded/total"> once the page has loaded, so a headless browser (and a
# reader with developer tools) can confirm that every figure decoded.
CHECK_IMAGES_JS = (
    "window.addEventListener('load',function(){var im=document.images,ok=0;"
    "for(var i=0;i<im.length;i++){if(im[i].complete&&im[i].naturalWidth>0){ok++;}}"
    "document.body.setAttribute('data-images',ok+'/'+im.length);});"
)


STYLED_COLUMNS = ("status", "outcome")  # table columns whose cells are coloured by their value
Figures = list[tuple[str, str, bytes]]  # (file stem, title, PNG bytes), in page order
Sections = list[tuple[str, list[str]]]  # (heading, bullet lines)
Analyses = list[
    tuple[str, str, bytes, list[str]]
]  # (file stem, title, PNG or b"", sentences): reporting/analyses.py


class Page(NamedTuple):
    """Everything one report page shows, rendered twice: as HTML and as Markdown."""

    title: str
    subtitle: str
    conclusions: list[str]
    table: tuple[list[str], list[list[Any]]]  # header, rows
    figures: Figures
    sections: Sections
    provenance: list[tuple[str, str]]
    configs: list[str]
    analyses: Analyses = []  # noqa: RUF012 - filled by write_pages from the analysis/ folders


def _html(page: Page) -> str:
    title, subtitle, concl, table, figures, sections, prov, configs, analyses = page
    e = html.escape
    header, rows = table
    parts = [
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{e(title)}</title>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        # Self-contained by construction: the browser may load nothing but inline data.
        (
            "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; img-src data:; "
            "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">"
        ),
        f"<style>{CSS}</style><script>{CHECK_IMAGES_JS}</script></head><body>",
        f"<h1>{e(title)}</h1><p class='sub'>{e(subtitle)}</p>",
        "<h2>Conclusions</h2><ul class='concl'>"
        + "".join(f"<li>{e(s)}</li>" for s in concl)
        + "</ul>",
        "<h2>Results</h2><table><tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>",
    ]
    # The status column is coloured by its value (CSS classes learned / failed), found by name.
    styled = {i for i, h in enumerate(header) if h in STYLED_COLUMNS}
    for row in rows:
        parts.append(
            "<tr>"
            + "".join(
                f"<td class='{e(c)}'>{e(c)}</td>" if i in styled else f"<td>{e(c)}</td>"
                for i, c in enumerate(row)
            )
            + "</tr>"
        )
    parts.append(f"</table><p>{e(TEST_NOTE)}</p>")
    for _, fig_title, png in figures:
        data = base64.b64encode(png).decode()
        parts.append(
            f"<h2>{e(fig_title)}</h2><img alt='{e(fig_title)}' src='data:image/png;base64,{data}'>"
        )
    for _, a_title, png, lines in analyses:
        parts.append(
            f"<h2>{e(a_title)}</h2><ul class='concl'>"
            + "".join(f"<li>{e(s)}</li>" for s in lines)
            + "</ul>"
        )
        if png:
            parts.append(
                f"<img alt='{e(a_title)}' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
            )
    if sections:
        parts.append("<h2>Diagnosis per model</h2>")
    for heading, lines in sections:
        parts.append(
            f"<h3>{e(heading)}</h3><ul>" + "".join(f"<li>{e(s)}</li>" for s in lines) + "</ul>"
        )
    parts.append(
        "<h2>Provenance</h2><table>"
        + "".join(f"<tr><th>{e(k)}</th><td>{e(str(v))}</td></tr>" for k, v in prov)
        + "</table>"
    )
    for cfg in configs:
        parts.append(f"<pre>{e(cfg)}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _markdown(page: Page) -> str:
    title, subtitle, concl, table, figures, sections, prov, configs, analyses = page
    header, rows = table
    cell = lambda s: str(s).replace("|", "\\|")
    out = [f"# {title}", "", f"_{subtitle}_", "", "## Conclusions", ""] + [f"- {s}" for s in concl]
    out += ["", "## Results", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    out += ["", TEST_NOTE, ""]
    for stem, fig_title, _ in figures:
        out += [f"## {fig_title}", "", f"![{fig_title}](figures/{stem}.png)", ""]
    for stem, a_title, png, lines in analyses:
        out += [f"## {a_title}", ""] + [f"- {s}" for s in lines] + [""]
        if png:
            out += [f"![{a_title}](figures/{stem}.png)", ""]
    if sections:
        out += ["## Diagnosis per model", ""]
    for heading, lines in sections:
        out += [f"### {heading}", ""] + [f"- {s}" for s in lines] + [""]
    out += ["## Provenance", "", "| item | value |", "|---|---|"] + [
        f"| {cell(k)} | {cell(v)} |" for k, v in prov
    ]
    for cfg in configs:
        out += ["", "```yaml", cfg.rstrip(), "```"]
    return "\n".join(out) + "\n"


TEST_NOTE = (
    "Test accuracy is the final model's. The test set is used for that number and for the diagnostics' "
    "fixed prediction batch only; no choice (epochs, settings) depends on it."
)


def write_pages(
    out: Path, page: Page, stem: str = "report", analysis_dirs: list[str | Path] = ()
) -> tuple[Path, Path]:
    """Write ``<stem>.html`` (self-contained), ``<stem>.md`` and ``figures/*.png`` into ``out``, with a
    section for each ``resnet-lab analyze`` result found in ``analysis_dirs`` (default: ``out``)."""
    from .analyses import analysis_sections

    if out.exists() and not out.is_dir():
        raise UserError(
            f"report output {out} is a file, not a directory; pass a directory to --out"
        )
    page = page._replace(
        subtitle=f"{page.subtitle} · {_written_now()}",
        analyses=analysis_sections(list(analysis_dirs) or [out]),
    )
    (out / "figures").mkdir(parents=True, exist_ok=True)
    for fig_stem, _, png in page.figures + [(a[0], a[1], a[2]) for a in page.analyses if a[2]]:
        atomic_write_bytes(out / "figures" / f"{fig_stem}.png", lambda fh, png=png: fh.write(png))
    html_path, md_path = out / f"{stem}.html", out / f"{stem}.md"
    for path, text in ((html_path, _html(page)), (md_path, _markdown(page))):
        if not _same_but_written(path, text):
            write_text(path, text)
    return html_path, md_path


_WRITTEN = re.compile(r"report written \d{4}-\d\d-\d\d \d\d:\d\d UTC")


def _written_now() -> str:
    """What ``write_pages`` appends to every subtitle, the one pattern ``_same_but_written`` ignores."""
    return f"report written {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC"


def _same_but_written(path: Path, text: str) -> bool:
    """Whether ``path`` already holds ``text`` but for its "report written" time: a report rebuilt
    from the same runs is left as it was, so that re-running a finished study (as the measurement
    queues do on every restart) does not rewrite the reports kept in the repository."""
    try:
        old = path.read_text()
    except (OSError, UnicodeDecodeError):
        return False
    return _WRITTEN.sub("", old) == _WRITTEN.sub("", text)


def write_report(
    run_dirs: list[str | Path], out_dir: str | Path | None = None
) -> tuple[Path, Path]:
    """Write report.html, report.md and figures/*.png into ``out_dir`` (default: the first run)."""
    if not run_dirs:
        raise UserError("no run directory given; pass the --out directory of a finished compare")
    runs = [read_compare(d) for d in run_dirs]
    ids = [str(r["dir"].resolve()) for r in runs]
    if len(set(ids)) < len(ids):
        raise UserError("the same run directory is given twice; pass each compare once")
    names = [r["dir"].name for r in runs]
    for r in runs:  # two compares in folders of the same name are told apart by their path
        if names.count(r["dir"].name) > 1:
            for m in r["models"]:
                m["run"] = str(r["dir"])
    _label(runs)
    models = [m for r in runs for m in r["models"]]
    first_diag = next((m["diagnosis"] for m in models if m.get("diagnosis")), None)
    classes = first_diag["classes"] if first_diag else [str(i) for i in range(10)]
    num_classes = first_diag["num_classes"] if first_diag else 10
    out = Path(out_dir) if out_dir else runs[0]["dir"]
    conds = conditions(models)
    figures = _figures(conds, num_classes, classes)
    presets = sorted({r["config"]["preset"] for r in runs})
    title = "resnet-lab report: " + ", ".join(sorted({m["name"] for m in models}))
    subtitle = (
        f"{' + '.join(r['dir'].name for r in runs)} · preset {', '.join(presets)} · "
        f"{runs[0]['provenance'].get('data', '')}"
    )
    sections = [
        (m["label"] + (f" (seed {m['seed']})" if len(c["entries"]) > 1 else ""), diagnosis_lines(m))
        for c in conds
        for m in c["entries"]
    ]
    page = Page(
        title,
        subtitle,
        conclusions(models),
        _table(conds),
        figures,
        sections,
        provenance_items(runs),
        [yaml.safe_dump(r["config"], sort_keys=False) for r in runs],
    )
    return write_pages(out, page, analysis_dirs=[r["dir"] for r in runs])
