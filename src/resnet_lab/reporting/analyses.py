"""Report sections for the mechanism analyses (``resnet-lab analyze``) found in run directories.

Each section is rebuilt from the analysis' JSON file, not copied from its PNG, so several
directories' entries of one analysis are merged into one figure (plain and residual side by side)
and the sentences always come from the numbers on disk.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..mechanisms import ANALYSES, analysis
from .report import png

Section = tuple[str, str, bytes, list[str]]  # (file stem, title, PNG bytes or b"", sentences)


def read_entries(path: Path) -> list[dict[str, Any]]:
    """The entries of an analysis JSON file; [] when it is absent or unreadable (it is then rewritten)."""
    try:
        blob = json.loads(path.read_text())
        return [e for e in blob["entries"] if isinstance(e, dict) and "run" in e]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def analysis_sections(dirs: list[str | Path]) -> list[Section]:
    """One section per analysis with entries in ``dirs``' ``analysis/`` folders, in ANALYSES order."""
    sections = []
    for name in ANALYSES:
        entries: dict[str, dict[str, Any]] = {}
        for d in dirs:
            for e in read_entries(Path(d) / "analysis" / f"{name}.json"):
                entries[e["run"]] = {**e, "study": Path(d).name}
        if not entries:
            continue
        mod = analysis(name)
        values = list(entries.values())
        labels = [e.get("label") for e in values]
        for e in (
            values
        ):  # the same model in two directions (e.g. an SGD and an Adam compare): say which
            if labels.count(e.get("label")) > 1:
                e["label"] = f"{e.get('label')} ({e['study']})"
        try:
            sections.append(
                (f"analysis_{name}", mod.TITLE, png(mod.figure(values)), mod.sentences(values))
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:  # written by another version
            why = (
                f"analysis/{name}.json could not be read ({type(exc).__name__}: {exc}); re-run "
                f"'resnet-lab analyze {name}' on these runs"
            )
            sections.append((f"analysis_{name}", mod.TITLE, b"", [why]))
    return sections
