"""examples/quickstart.ipynb executes top to bottom (so it cannot rot)."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).parent.parent / "examples" / "quickstart.ipynb"


@pytest.mark.slow
def test_quickstart_notebook_executes(tmp_path):
    nbformat = pytest.importorskip(
        "nbformat", reason="nbformat is a dev dependency: pip install -e '.[dev]'"
    )
    nbclient = pytest.importorskip(
        "nbclient", reason="nbclient is a dev dependency: pip install -e '.[dev]'"
    )
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    text = "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )
    assert "skip=True: verdict" in text and "mine_plain" in text and "report.html" in text
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 2
    assert (tmp_path / "runs" / "notebook" / "report.html").is_file()
