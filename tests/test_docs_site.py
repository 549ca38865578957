"""The README and the documentation site (issue 35): a README of a few screens whose set-up commands
are the ones CI runs, and a site whose every page is in the navigation. `mkdocs build --strict` in
.ci/run checks the links inside docs/; these checks need no docs tools and run in the default suite."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
INSTALL_DEV = "python3 -m venv .venv && .venv/bin/pip install -e '.[dev]'"
TEST_COMMAND = '.venv/bin/python -m pytest -m "not slow"'


def _nav_pages(nav) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, list):
        return [page for item in nav for page in _nav_pages(item)]
    return [page for value in nav.values() for page in _nav_pages(value)]


def test_the_readme_is_a_few_screens():
    assert len(README.splitlines()) <= 200


def test_the_readme_test_command_is_the_one_ci_runs_and_comes_first():
    ci = (ROOT / ".ci/run").read_text(encoding="utf-8")
    assert f"{INSTALL_DEV} && {TEST_COMMAND}" in README
    assert INSTALL_DEV in ci and TEST_COMMAND in ci
    top = "\n".join(README.splitlines()[:25])
    assert f"{INSTALL_DEV} && {TEST_COMMAND}" in top
    assert ".venv/bin/pip install -e . && .venv/bin/resnet-lab compare --preset quick" in top


def test_every_docs_page_is_in_the_nav_and_every_nav_page_exists():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    assert config["docs_dir"] == "docs"
    nav = _nav_pages(config["nav"])
    assert len(nav) == len(set(nav))
    assert sorted(nav) == sorted(p.name for p in (ROOT / "docs").glob("*.md"))


def test_the_readme_links_point_at_files_that_exist():
    targets = re.findall(r"\]\(((?:docs|examples|src|benchmarks)/[^)#\s]*)", README)
    assert targets
    missing = [t for t in targets if not (ROOT / t).exists()]
    assert not missing, missing


def test_the_docs_tools_are_an_optional_extra_and_site_is_ignored():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    docs = project["optional-dependencies"]["docs"]
    assert {re.split(r"[\[>=]", d)[0] for d in docs} == {
        "mkdocs",
        "mkdocs-material",
        "mkdocstrings",
    }
    for other in (project["dependencies"], project["optional-dependencies"]["dev"]):
        assert not any(d.startswith("mkdocs") for d in other)
    assert "site/" in (ROOT / ".gitignore").read_text(encoding="utf-8").split()
