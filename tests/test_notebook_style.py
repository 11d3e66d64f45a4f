"""Every code line of every notebook fits a code cell of the rendered book without scrolling.

MAX_LINE was measured in the built book (tools/browser_check.py, which prints it): at a 1280 px wide
window, sphinx-book-theme's code cell is 684 px wide and its 14 px monospace font takes 8.43 px per
character, so 77 characters fit; the limit keeps one character of margin for other monospace fonts.
The browser check verifies the rendered pages themselves (no <pre> wider than its box), outputs
included; this test points at the source line to shorten. Wide (CJK) characters count twice.
"""

import json
import unicodedata
from pathlib import Path

import pytest

MAX_LINE = 76
# A collapsed (hide-input) cell's code sits in a box one character narrower (measured: a 76-column
# line is 7 px too wide there).
MAX_LINE_HIDDEN = MAX_LINE - 1
NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def width(line: str) -> int:
    """Columns that ``line`` takes in a monospace font (East Asian wide/full-width characters: 2)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in line)


def long_lines(path: Path, limit: int = MAX_LINE) -> list[str]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    found = []
    for index, cell in enumerate(cells):
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        hidden = "hide-input" in cell.get("metadata", {}).get("tags", [])
        for number, line in enumerate(source.splitlines(), 1):
            if width(line) > (limit - 1 if hidden else limit):
                found.append(f"{path.name} cell {index} (id {cell.get('id', '?')}) line {number}: "
                             f"{width(line)} > {limit}: {line}")
    return found


def test_there_are_notebooks():
    assert NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_code_lines_fit_a_code_cell_at_1280_px(path):
    found = long_lines(path)
    assert not found, f"{len(found)} code lines longer than {MAX_LINE} columns:\n" + "\n".join(found)


def test_the_check_counts_columns(tmp_path):
    nb = {"cells": [{"cell_type": "markdown", "source": ["x" * 200]},
                    {"cell_type": "code", "id": "a", "source": ["ok = 1\n", "y" * (MAX_LINE + 1)]},
                    {"cell_type": "code", "id": "b", "source": "#" + "图" * (MAX_LINE // 2)}]}  # 1 + 76 columns
    path = tmp_path / "n.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    found = long_lines(path)
    assert [f.split(":")[0] for f in found] == ["n.ipynb cell 1 (id a) line 2", "n.ipynb cell 2 (id b) line 1"]
    assert long_lines(path, limit=MAX_LINE + 1) == []


# -- Written for readers: what a student meets when opening a chapter in plain JupyterLab ------------

import re  # noqa: E402
import sys  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from jupyterlab_check import MARKUP  # noqa: E402  (the patterns the JupyterLab browser check looks for)

RAW = re.compile(MARKUP, re.M)

PLUMBING = re.compile(r"nbval|XAI_WEIGHTS|XAI_QUICK|oneDNN|ONEDNN|TF_CPP|TF_ENABLE|os\.environ")
CHECK_CALL = re.compile(r"\bcheck\(")


def cells(path: Path) -> list[dict]:
    found = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return [dict(c, text="".join(c["source"]) if isinstance(c["source"], list) else c["source"]) for c in found]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_markdown_has_no_markup_that_jupyterlab_shows_raw(path):
    found = [f"cell {i}: {m.group(0)!r}" for i, c in enumerate(cells(path)) if c["cell_type"] == "markdown"
             for m in RAW.finditer(c["text"])]
    assert not found, f"{path.name}: MyST markup that plain JupyterLab prints literally:\n" + "\n".join(found)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_test_plumbing_in_prose_or_the_first_code_cell(path):
    cs = cells(path)
    first_code = next(i for i, c in enumerate(cs) if c["cell_type"] == "code")
    found = [f"cell {i}: {m.group(0)}" for i, c in enumerate(cs)
             if c["cell_type"] == "markdown" or i == first_code for m in PLUMBING.finditer(c["text"])]
    assert not found, f"{path.name}: test plumbing belongs in the harness (conftest.py, Makefile):\n" + "\n".join(found)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_glue(path):
    found = [i for i, c in enumerate(cells(path)) if c["cell_type"] == "code" and re.search(r"\bglue\b", c["text"])]
    assert not found, f"{path.name}: cells {found} glue values into prose; print them instead"


def test_claims_are_checked_and_checks_are_quiet():
    check_cells = [(p.name, c) for p in NOTEBOOKS for c in cells(p)
                   if c["cell_type"] == "code" and CHECK_CALL.search(c["text"])]
    assert len(check_cells) >= 25, f"only {len(check_cells)} cells check a claim of the prose"
    visible = [f"{name}: {line}" for name, c in check_cells for o in c.get("outputs", [])
               if o.get("output_type") == "stream" for line in "".join(o["text"]).splitlines() if line.strip()]
    assert len(visible) <= 5, "check cells print:\n" + "\n".join(visible)
    untagged = [name for name, c in check_cells if "hide-input" not in c.get("metadata", {}).get("tags", [])]
    assert not untagged, f"check cells not collapsed in the HTML book (tag hide-input): {untagged}"


def test_the_markup_patterns_catch_what_jupyterlab_shows_raw():
    raw = ["{glue:text}`x:.2f`", "see {ref}`lime-step1`", "{doc}`glossary`", "(lime-step1)=", ":::{note}",
           "```{figure} a.png"]
    clean = ["plain [link](lime.ipynb#step-1)", "a set {1, 2}", "$x$ inline", "$$x$$", "`code` and {braces}"]
    assert all(RAW.search(s) for s in raw)
    assert not any(RAW.search(s) for s in clean)
