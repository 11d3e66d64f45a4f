"""The translated notebooks (notebooks/zh_CN/) and the translations (locales/zh_CN/LC_MESSAGES/*.po).

- A translated notebook is its English notebook with translated markdown: the same cells in the same
  order, code cells (sources, outputs, metadata, ids, execution counts) byte for byte the same;
- it is up to date: exactly what tools/translations.py writes from today's English notebook and .po
  file (after changing prose or re-executing a notebook: make translations);
- its links lead to files that exist from its folder, and its markdown has no markup that JupyterLab
  shows raw other than what the English cell has;
- a translation keeps its message's code, math, link targets and roles (what must not be translated).

The share of untranslated messages is reported by ``make check-translations`` (CI), not here.
"""

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import translations as tr  # noqa: E402
from build_book import translated_languages  # noqa: E402
from jupyterlab_check import MARKUP  # noqa: E402

LANGUAGES = translated_languages()
ENGLISH = tr.chapters()
PAIRS = [(lang, p) for lang in LANGUAGES for p in ENGLISH]
IDS = [f"{lang}-{p.stem}" for lang, p in PAIRS]
RAW = re.compile(MARKUP, re.M)


@pytest.fixture(scope="module")
def md():
    return tr.markdown_parser()


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False)


def test_there_are_translations():
    assert "zh_CN" in LANGUAGES
    assert ENGLISH


@pytest.mark.parametrize("lang, path", PAIRS, ids=IDS)
def test_code_cells_are_the_english_notebooks_byte_for_byte(lang, path):
    english, translated = load(path), load(tr.translated_path(path, lang))
    assert [(c["cell_type"], c.get("id")) for c in translated["cells"]] == \
        [(c["cell_type"], c.get("id")) for c in english["cells"]], "cells differ in number, order, type or id"
    for i, (e, t) in enumerate(zip(english["cells"], translated["cells"])):
        if e["cell_type"] == "markdown":
            assert {k: v for k, v in t.items() if k != "source"} == {k: v for k, v in e.items() if k != "source"}, \
                f"markdown cell {i}: only the source may differ"
        else:  # code (check cells included) and raw cells: source, outputs, metadata, execution count
            assert canonical(t) == canonical(e), f"{e['cell_type']} cell {i} (id {e.get('id')}) differs"
    metadata = dict(translated["metadata"])
    assert metadata.pop("xaitools_translation")["language"] == lang
    assert metadata == english["metadata"]
    assert translated["nbformat"] == english["nbformat"] and translated["nbformat_minor"] == english["nbformat_minor"]


@pytest.mark.parametrize("lang, path", PAIRS, ids=IDS)
def test_translated_notebook_is_up_to_date(lang, path, md):
    nb, lost = tr.translate_notebook(path, lang, md)
    assert not lost, f"translations that could not be put back into the markdown: {lost}"
    target = tr.translated_path(path, lang)
    assert target.read_text(encoding="utf-8") == tr.dumps(nb), \
        f"{target.relative_to(ROOT)} is out of date with {path.name} and its .po file: run make translations"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_no_translated_notebook_without_an_english_one(lang):
    names = {p.name for p in ENGLISH}
    assert {p.name for p in (tr.NOTEBOOKS / lang).glob("*.ipynb")} == names


@pytest.mark.parametrize("lang, path", PAIRS, ids=IDS)
def test_links_lead_to_files_and_no_new_raw_markup(lang, path, md):
    target = tr.translated_path(path, lang)
    english = load(path)["cells"]
    for i, cell in enumerate(load(target)["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        text = tr.source_text(cell)
        for link in tr.link_targets(md, text):
            if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^#", link):
                continue
            file = link.split("#")[0].split("?")[0]
            assert (target.parent / file).resolve().exists(), f"cell {i}: {link} does not exist from {target.parent}"
        raw = set(m.group(0) for m in RAW.finditer(text))
        assert raw <= set(m.group(0) for m in RAW.finditer(tr.source_text(english[i]))), \
            f"cell {i}: markup that JupyterLab shows raw, not in the English cell: {raw}"


# -- What a translation must keep ------------------------------------------------------------------------

KEEP = {  # in this order: each kind is taken out of the text before the next is looked for
    "role": re.compile(r"\{[a-zA-Z][\w:.-]*\}`[^`]*`"),
    "inline code": re.compile(r"(`+)(?!`)(.+?)(?<!`)\1(?!`)"),
    "math": re.compile(r"\$\$.+?\$\$|\$[^$\s](?:[^$]*[^$\s])?\$"),
    "link target": re.compile(r"\]\(([^)\s]+)"),
}


def kept(text: str) -> dict[str, list[str]]:
    """What a translation must keep as it is: roles, inline code, math and link targets."""
    found = {}
    for name, pattern in KEEP.items():
        found[name] = sorted(m.group(0) for m in pattern.finditer(text))
        text = pattern.sub(" ", text)
    return found


def test_what_a_translation_keeps():
    got = kept("See {doc}`summary`, `a $b$ [c](d)`, $x_1$ and [e](../f.md#g).")
    assert got == {"role": ["{doc}`summary`"], "inline code": ["`a $b$ [c](d)`"], "math": ["$x_1$"],
                   "link target": ["](../f.md#g"]}


def catalogs():
    return sorted((tr.LOCALES).glob("*/LC_MESSAGES/**/*.po"))


@pytest.mark.parametrize("po", catalogs(), ids=lambda p: p.relative_to(tr.LOCALES).as_posix())
def test_translations_keep_code_math_links_and_roles(po):
    wrong = []
    for m in tr.read_catalog(po):
        if not m.id or not m.string or not isinstance(m.id, str):
            continue
        a, b = kept(m.id), kept(m.string)
        for name in KEEP:
            if a[name] != b[name]:
                wrong.append(f"{name}: {a[name]} -> {b[name]} in {m.id[:60]!r}")
        if "\n" in m.string:
            wrong.append(f"a line break in the translation of {m.id[:60]!r} (a message is one line)")
    assert not wrong, "\n".join(wrong)


def test_catalogs_are_for_the_book_languages():
    langs = {p.relative_to(tr.LOCALES).parts[0] for p in catalogs()}
    assert langs == set(LANGUAGES)


# -- The markdown translation itself ---------------------------------------------------------------------

def test_messages_and_their_places(md):
    text = ("# A *title*\n\nOne paragraph\non two lines.\n\n- item one\n  goes on\n- item two\n\n"
            "| A | B |\n| --- | --- |\n| `x\\|y` | b |\n\n$$\nx^2\n$$\n\n```python\ncode = 1\n```\n")
    got = [(b.kind, b.msgid) for b in tr.blocks(md, text)]
    assert got == [("heading", "A *title*"), ("paragraph", "One paragraph on two lines."),
                   ("paragraph", "item one goes on"), ("paragraph", "item two"), ("cell", "A"), ("cell", "B"),
                   ("cell", "`x|y`"), ("cell", "b")]
    table = {"A *title*": "一个*标题*", "One paragraph on two lines.": "一段。", "item one goes on": "第一项",
             "B": "乙|丙", "`x|y`": "`x|y`"}
    out, lost = tr.translate_markdown(md, text, table.get)
    assert not lost
    assert out == ("# 一个*标题*\n\n一段。\n\n- 第一项\n- item two\n\n"
                   "| A | 乙\\|丙 |\n| --- | --- |\n| `x\\|y` | b |\n\n$$\nx^2\n$$\n\n```python\ncode = 1\n```\n")
    assert [b.msgid for b in tr.blocks(md, out)] == ["一个*标题*", "一段。", "第一项", "item two", "A", "乙|丙",
                                                     "`x|y`", "b"]


def test_links_move_with_the_notebook(md):
    chapters = {"cam.ipynb", "lime.ipynb"}
    text = ("[a](../book/running.md#modes) [b](cam.ipynb#step-1) [c](https://pypi.org/x) [d](#here) "
            "![e](figure.png) `[not](a-link.md)`\n\n[f]: ../book/glossary.md\n\nsee [f]\n")
    assert tr.relocate_links(md, text, chapters) == (
        "[a](../../book/running.md#modes) [b](cam.ipynb#step-1) [c](https://pypi.org/x) [d](#here) "
        "![e](../figure.png) `[not](a-link.md)`\n\n[f]: ../../book/glossary.md\n\nsee [f]\n")
