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
        for number, line in enumerate(source.splitlines(), 1):
            if width(line) > limit:
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
