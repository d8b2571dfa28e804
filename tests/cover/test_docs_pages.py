"""The site's structure: a page per theorem that includes its proof (so it cannot drift), every page
reachable, the README short and linking only to files that exist, the habits' files present."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import wzbounds
from wzbounds.theorems import THEOREMS

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


@pytest.mark.parametrize("theorem_id", sorted(THEOREMS))
def test_theorem_page_includes_its_proof(theorem_id):
    page = (DOCS / "theory" / f"{theorem_id}.md").read_text()
    assert f"```{{include}} ../../proofs/{theorem_id}.md\n:start-line: 1\n```" in page
    assert f"```{{literalinclude}} ../../proofs/checks/{theorem_id}.py" in page
    assert f"```{{theorem-cited-by}} {theorem_id}\n```" in page
    assert re.search(rf"^{theorem_id}$", (DOCS / "theory" / "index.md").read_text(), re.M), "not in the toctree"


def test_budget_tutorial_is_linked():
    assert re.search(r"^budget$", (DOCS / "tutorials" / "index.md").read_text(), re.M)
    assert "(docs/tutorials/budget.md)" in (ROOT / "README.md").read_text()


def test_readme_is_short_and_keeps_the_fresh_machine_commands():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 150
    assert "pip install -e . && wzbounds window\n" in text
    assert 'pip install torch==2.13.0 && pip install -e ".[test,empirical,plot,kvpress]" && python -m pytest -q\n' in text


def test_readme_links_resolve():
    text = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#]+)\)", text)
    assert len(targets) > 20
    missing = [t for t in targets if "://" not in t and not (ROOT / t).exists()]
    assert not missing, missing


def test_one_version_source():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project and "version" in project["dynamic"]
    dynamic = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["dynamic"]
    assert dynamic["version"] == {"attr": "wzbounds.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", wzbounds.__version__)
    assert f"version: {wzbounds.__version__}" in (ROOT / "CITATION.cff").read_text()


def test_habit_files():
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert "## Unreleased" in (ROOT / "CHANGELOG.md").read_text()
    cff = (ROOT / "CITATION.cff").read_text()
    assert "cff-version: 1.2.0" in cff and "2605.25085" in cff
