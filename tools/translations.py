"""The book's translations: extract the messages, merge them into the .po files, report, and write the
translated notebooks.

The English text is the source. Sphinx's gettext builder splits it into messages: every paragraph,
heading, list item and table cell of the pages (book/*.md) and of the notebooks' markdown cells, one
message each, in Markdown as written (links, emphasis, inline code and ``$...$`` math stay in the
message; code cells, their outputs and ``$$`` formulas are not messages, book/_ext/book_languages.py).
The translations are ``locales/<language>/LC_MESSAGES/<page>.po`` (``book/intro.po``,
``notebooks/lime.po``; ``sphinx.po`` holds labels of the book's own templates), one file per page,
managed with sphinx-intl.

Commands (from the repository's root; the Makefile's targets run them):

``update``     (``make translations``) extract the messages afresh (``_build/gettext/*.pot``), merge them into
               the .po files with ``sphinx-intl update`` (a new message is untranslated; a changed one is
               fuzzy, with the old translation kept as a suggestion; a removed one is kept as obsolete,
               ``#~``, if it was translated, and dropped if not), then write the translated notebooks
               (``notebooks``).
``notebooks``  write ``notebooks/<language>/<name>.ipynb`` for every chapter: the English notebook with each
               markdown cell translated message by message from ``<name>.po`` (untranslated and fuzzy
               messages stay English); code cells, outputs, check cells, ids and metadata are copied as they
               are. Relative links are adjusted for the folder. ``--check``: write nothing, exit 1 if a
               translated notebook is missing or differs from what the English notebook and the .po file
               give (``tests/test_translations.py`` runs the same comparison).
``stat``       (``make check-translations``) extract the messages afresh and report, per page and in all, the
               share of the current English text's messages that is untranslated or fuzzy (a message the
               .po files do not have yet counts as untranslated); exit 1 above ``--max-untranslated``
               percent (default 2). Also checks that the notebook translation finds every message that
               Sphinx extracts from a notebook, and that every .po file belongs to a page.

Usage: python tools/translations.py {update,notebooks,stat} [--language zh_CN ...] [--check]
       [--max-untranslated 2] [--no-extract]
The languages are the translations of ``book_languages`` in _config.yml unless --language is given.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import posixpath
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCALES = ROOT / "locales"
NOTEBOOKS = ROOT / "notebooks"
POT_DIR = ROOT / "_build" / "gettext"
sys.path.insert(0, str(ROOT / "tools"))


# -- Messages of a markdown text, as Sphinx (MyST) extracts them -----------------------------------------

def markdown_parser():
    """The markdown-it parser MyST uses for the book's notebooks: the myst_* settings of the book's
    Sphinx configuration (_config.yml, as Jupyter Book turns it into Sphinx's)."""
    import dataclasses

    from jupyter_book.config import get_final_config
    from markdown_it.renderer import RendererHTML
    from myst_parser.config.main import MdParserConfig
    from myst_parser.parsers.mdit import create_md_parser

    sphinx_config, _ = get_final_config(user_yaml=ROOT / "_config.yml", cli_config={"latex_individualpages": False},
                                        sourcedir=ROOT)
    fields = {f.name for f in dataclasses.fields(MdParserConfig)}
    settings = {k[len("myst_"):]: v for k, v in sphinx_config.items()
                if k.startswith("myst_") and k[len("myst_"):] in fields}
    if "enable_extensions" in settings:
        settings["enable_extensions"] = set(settings["enable_extensions"])
    return create_md_parser(MdParserConfig(**settings), RendererHTML)


def message_id(content: str) -> str:
    """Sphinx's msgid of a paragraph, title or table cell: its Markdown on one line."""
    return content.replace("\n", " ").strip()


@dataclass
class Block:
    """A message's place in a markdown text: its kind, lines [start, end), its Markdown, its msgid."""

    kind: str  # "heading", "setext", "paragraph" or "cell"
    start: int
    end: int
    content: str
    msgid: str
    cell: int = 0  # a table cell's column


def blocks(md, text: str) -> list[Block]:
    """The messages of ``text`` in order, with their places (what MyST makes paragraphs, titles and
    table cells of; code, HTML and ``$$`` math blocks are not messages)."""
    found, tokens, column = [], md.parse(text), 0
    row = None
    for i, tok in enumerate(tokens):
        if tok.type == "tr_open":
            row, column = tok.map, 0
        elif tok.type in ("th_open", "td_open"):
            inline = tokens[i + 1]
            if inline.type == "inline" and message_id(inline.content):
                found.append(Block("cell", row[0], row[1], inline.content, message_id(inline.content), column))
            column += 1
        elif tok.type in ("heading_open", "paragraph_open"):
            inline = tokens[i + 1]
            if inline.type != "inline" or not message_id(inline.content) or tok.map is None:
                continue
            kind = "setext" if tok.type == "heading_open" and tok.markup in ("=", "-") else \
                ("heading" if tok.type == "heading_open" else "paragraph")
            found.append(Block(kind, tok.map[0], tok.map[1], inline.content, message_id(inline.content)))
    return found


def _cell_spans(line: str) -> list[tuple[int, int]]:
    """The [start, end) of each cell's text in a table row, split as markdown-it splits it: at every
    | not preceded by a backslash; a leading and a trailing | open and close the row."""
    bounds = [i for i, ch in enumerate(line) if ch == "|" and (i == 0 or line[i - 1] != "\\")]
    edges = [-1, *bounds, len(line)]
    spans = [(a + 1, b) for a, b in zip(edges, edges[1:])]
    if len(spans) > 1 and not line[spans[0][0]:spans[0][1]].strip():
        spans.pop(0)
    if len(spans) > 1 and not line[spans[-1][0]:spans[-1][1]].strip():
        spans.pop()
    return spans


def translate_markdown(md, text: str, translate) -> tuple[str, list[str]]:
    """``text`` with every message replaced by ``translate(msgid)`` (None: keep the English).

    Returns the new text and the msgids that could not be put back (none, unless the Markdown is
    unusual enough that a message's text is not found on its own lines)."""
    lines = text.split("\n")
    edits: dict[int, tuple[int, list[str]]] = {}  # first line -> (end, replacement lines)
    rows: dict[int, str] = {}
    lost = []
    for block in blocks(md, text):
        new = translate(block.msgid)
        if new is None:
            continue
        new = message_id(new)  # a translation is one line, as its msgid (a soft break is a space)
        first = block.content.split("\n")[0].strip()
        if block.kind == "cell":
            line = rows.get(block.start, lines[block.start])
            spans = _cell_spans(line)
            if block.cell >= len(spans):
                lost.append(block.msgid)
                continue
            a, b = spans[block.cell]
            cell = line[a:b]
            lead = len(cell) - len(cell.lstrip())
            trail = len(cell) - len(cell.rstrip())
            rows[block.start] = line[:a + lead] + new.replace("|", "\\|") + line[b - trail:]
            continue
        head = lines[block.start]
        col = head.find(first)
        if col < 0:
            lost.append(block.msgid)
            continue
        if block.kind == "setext":  # text lines, then the underline, which stays
            edits[block.start] = (block.end - 1, [head[:col] + new])
        else:
            edits[block.start] = (block.end, [head[:col] + new])
    out, i = [], 0
    while i < len(lines):
        if i in edits:
            end, replacement = edits[i]
            out.extend(replacement)
            i = end
        else:
            out.append(rows.get(i, lines[i]))
            i += 1
    return "\n".join(out), lost


# -- Links in a notebook that moves into notebooks/<language>/ -------------------------------------------

def relocate_link(target: str, chapters: set[str]) -> str:
    """A relative link of a notebook in notebooks/ as seen from notebooks/<language>/: a chapter
    notebook links to its translation (same name, same folder), anything else one folder up."""
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith(("#", "/")):
        return target
    path, rest = re.match(r"([^#?]*)(.*)", target, re.S).groups()
    if not path or path in chapters:
        return target
    return posixpath.join("..", path) + rest


def link_targets(md, text: str) -> set[str]:
    """The targets of the links and images of ``text``, as written (inline or reference definitions)."""
    targets = set()
    tokens = md.parse(text)
    for tok in tokens:
        for child in tok.children or []:
            if child.type == "link_open":
                targets.add(child.attrGet("href"))
            elif child.type == "image":
                targets.add(child.attrGet("src"))
    return {t for t in targets if t}


def relocate_links(md, text: str, chapters: set[str]) -> str:
    """``text`` with its relative link targets adjusted by :func:`relocate_link`."""
    targets = link_targets(md, text)

    def fix(m):
        prefix, target = m.group(1), m.group(2)
        if target in targets or md.normalizeLink(target) in targets:
            return prefix + relocate_link(target, chapters)
        return m.group(0)
    # ](target  and  [label]: target
    return re.sub(r"(\]\(\s*<?|^[ ]{0,3}\[[^\]]+\]:[ \t]*<?)([^\s)>]+)", fix, text, flags=re.M)


# -- Catalogs ----------------------------------------------------------------------------------------------

def po_path(domain: str, language: str) -> Path:
    return LOCALES / language / "LC_MESSAGES" / f"{domain}.po"


def read_catalog(path: Path):
    from babel.messages.pofile import read_po

    with path.open("rb") as f:
        return read_po(f)


def translations(domain: str, language: str) -> dict[str, str]:
    """msgid -> msgstr of the translated, not fuzzy, messages of ``domain`` (as Sphinx uses them)."""
    path = po_path(domain, language)
    if not path.exists():
        return {}
    return {m.id: m.string for m in read_catalog(path)
            if m.id and isinstance(m.id, str) and m.string and not m.fuzzy}


# -- Translated notebooks ----------------------------------------------------------------------------------

def source_text(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def source_lines(text: str) -> list[str]:
    """A cell's source as nbformat writes it: lines, each with its newline but the last."""
    return text.splitlines(keepends=True)


def chapters() -> list[Path]:
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def dumps(nb: dict) -> str:
    """A notebook's JSON as nbformat (Jupyter) writes it."""
    return json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def translate_notebook(path: Path, language: str, md=None) -> tuple[dict, list[str]]:
    """The translated notebook of ``path`` and the msgids that could not be put back."""
    md = md or markdown_parser()
    nb = json.loads(path.read_text(encoding="utf-8"))
    table = translations(f"notebooks/{path.stem}", language)
    names = {p.name for p in chapters()}
    lost = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "markdown":
            continue  # code and raw cells (sources, outputs, metadata) stay exactly as they are
        text, missing = translate_markdown(md, source_text(cell), table.get)
        lost += missing
        cell["source"] = source_lines(relocate_links(md, text, names))
    nb["metadata"]["xaitools_translation"] = {
        "language": language, "source": f"../{path.name}", "catalog": f"locales/{language}/LC_MESSAGES/notebooks/{path.stem}.po",
        "generated_by": "python tools/translations.py notebooks (make translations); edit the .po file, not this notebook"}
    return nb, lost


def notebook_messages(path: Path, md=None) -> list[str]:
    """The msgids of a notebook's markdown cells, as the translation finds them."""
    md = md or markdown_parser()
    nb = json.loads(path.read_text(encoding="utf-8"))
    return [b.msgid for c in nb["cells"] if c["cell_type"] == "markdown" for b in blocks(md, source_text(c))]


def translated_path(path: Path, language: str) -> Path:
    return NOTEBOOKS / language / path.name


def write_notebooks(language: str, check: bool = False) -> int:
    md, problems = markdown_parser(), 0
    folder = NOTEBOOKS / language
    expected = set()
    for path in chapters():
        nb, lost = translate_notebook(path, language, md)
        target = translated_path(path, language)
        expected.add(target.name)
        text = dumps(nb)
        for msgid in lost:
            print(f"  {path.name}: a translated message could not be put back: {msgid[:80]}")
            problems += 1
        if check:
            if not target.exists() or target.read_text(encoding="utf-8") != text:
                print(f"out of date: {target.relative_to(ROOT)} (run: make translations)")
                problems += 1
        else:
            folder.mkdir(parents=True, exist_ok=True)
            if not target.exists() or target.read_text(encoding="utf-8") != text:
                target.write_text(text, encoding="utf-8")
                print(f"wrote {target.relative_to(ROOT)}")
    for stale in sorted(folder.glob("*.ipynb")) if folder.is_dir() else []:
        if stale.name not in expected:
            if check:
                print(f"no English notebook for {stale.relative_to(ROOT)}")
                problems += 1
            else:
                stale.unlink()
                print(f"removed {stale.relative_to(ROOT)} (its English notebook is gone)")
    if check:
        print(f"{len(expected)} translated notebooks checked, {problems} problems")
    return 1 if problems else 0


# -- Extraction, merge, statistics -------------------------------------------------------------------------

def extract() -> float:
    """The gettext build: _build/gettext/<page>.pot for every page of the toc; returns its seconds."""
    from build_book import sphinx_build

    start = time.monotonic()
    if POT_DIR.exists():
        shutil.rmtree(POT_DIR)  # no .pot of a page that is gone
    # Its own doctrees: the gettext builder's environment is incompatible with the HTML build's. Not
    # strict: a warning about the English text (a broken reference) is make book's to report; the
    # messages are extracted all the same.
    sphinx_build("gettext", "en", POT_DIR, ROOT / "_build" / ".doctrees-gettext", strict=False, quiet=True)
    return time.monotonic() - start


def templates() -> dict[str, Path]:
    return {p.relative_to(POT_DIR).with_suffix("").as_posix(): p for p in sorted(POT_DIR.rglob("*.pot"))}


def update(languages: list[str]) -> int:
    print(f"gettext extraction: {extract():.0f} s")
    cmd = [str(Path(sys.executable).parent / "sphinx-intl"), "update", "-p", str(POT_DIR), "-d", str(LOCALES)]
    for language in languages:
        cmd += ["-l", language]
    print("$", " ".join(os.path.relpath(c, ROOT) if c.startswith(str(ROOT)) else c for c in cmd))
    subprocess.run(cmd, check=True, cwd=ROOT)
    status = 0
    for language in languages:
        prune_obsolete(language)
        for domain in stale_catalogs(language):
            print(f"warning: {po_path(domain, language).relative_to(ROOT)} belongs to no page any more; delete it")
        status |= write_notebooks(language)
    return status


def prune_obsolete(language: str) -> None:
    """Drop the obsolete entries (``#~``, messages the English text no longer has) that were never
    translated; obsolete translations stay, as material for the messages that replaced them."""
    from babel.messages.pofile import write_po

    for path in sorted((LOCALES / language / "LC_MESSAGES").rglob("*.po")):
        catalog = read_catalog(path)
        empty = [key for key, message in catalog.obsolete.items() if not message.string]
        if empty:
            for key in empty:
                del catalog.obsolete[key]
            with path.open("wb") as f:
                write_po(f, catalog, width=76)  # as sphinx-intl writes them
            print(f"{path.relative_to(ROOT)}: dropped {len(empty)} obsolete untranslated messages")


def stale_catalogs(language: str) -> list[str]:
    pots = templates()
    folder = LOCALES / language / "LC_MESSAGES"
    return [p.relative_to(folder).with_suffix("").as_posix() for p in sorted(folder.rglob("*.po"))
            if p.relative_to(folder).with_suffix("").as_posix() not in pots]


@dataclass
class Count:
    total: int = 0
    translated: int = 0
    fuzzy: int = 0
    untranslated: int = 0
    missing: list = field(default_factory=list)

    @property
    def share(self) -> float:
        return 100.0 * (self.fuzzy + self.untranslated) / self.total if self.total else 0.0


def count(domain: str, pot: Path, language: str) -> Count:
    """The messages of the current English text (``pot``) and how many ``domain``.po translates."""
    template = read_catalog(pot)
    path = po_path(domain, language)
    catalog = read_catalog(path) if path.exists() else None
    c = Count()
    for msg in template:
        if not msg.id:
            continue
        c.total += 1
        entry = catalog.get(msg.id) if catalog is not None else None
        if entry is not None and entry.string and entry.fuzzy:
            c.fuzzy += 1
        elif entry is not None and entry.string:
            c.translated += 1
        else:
            c.untranslated += 1
            if entry is None:
                c.missing.append(msg.id)
    return c


def stat(language: str, max_untranslated: float) -> int:
    pots = templates()
    if not pots:
        print(f"no message catalogs in {POT_DIR}: run without --no-extract")
        return 2
    total, problems = Count(), 0
    print(f"{'page':32} {'messages':>8} {'translated':>10} {'fuzzy':>6} {'untranslated':>12} {'share':>7}")
    for domain, pot in pots.items():
        c = count(domain, pot, language)
        for name in ("total", "translated", "fuzzy", "untranslated"):
            setattr(total, name, getattr(total, name) + getattr(c, name))
        note = f"  ({len(c.missing)} not in the .po yet: make translations)" if c.missing else ""
        print(f"{domain:32} {c.total:8} {c.translated:10} {c.fuzzy:6} {c.untranslated:12} {c.share:6.1f}%{note}")
    # The notebook translation must find exactly the messages Sphinx extracts from each notebook.
    md = markdown_parser()
    for path in chapters():
        pot = pots.get(f"notebooks/{path.stem}")
        sphinx_ids = {m.id for m in read_catalog(pot) if m.id} if pot else set()
        ours = set(notebook_messages(path, md))
        for msgid in sorted(sphinx_ids - ours):
            print(f"BAD {path.name}: a message Sphinx extracts that the notebook translation does not find: "
                  f"{msgid[:100]}")
            problems += 1
        for msgid in sorted(ours - sphinx_ids):
            print(f"BAD {path.name}: a message the notebook translation finds that Sphinx does not extract: "
                  f"{msgid[:100]}")
            problems += 1
    for domain in stale_catalogs(language):
        print(f"BAD {po_path(domain, language).relative_to(ROOT)} belongs to no page (delete it)")
        problems += 1
    ok = total.share <= max_untranslated
    print(f"{'all':32} {total.total:8} {total.translated:10} {total.fuzzy:6} {total.untranslated:12} "
          f"{total.share:6.1f}%")
    print(f"{language}: {total.translated} of {total.total} messages translated "
          f"({100 - total.share:.1f} %); untranslated or fuzzy: {total.share:.1f} % "
          f"({'within' if ok else 'above'} the limit of {max_untranslated:g} %)")
    return 0 if ok and not problems else 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=["update", "notebooks", "stat"])
    ap.add_argument("--language", action="append",
                    help="default: every translation in book_languages (_config.yml)")
    ap.add_argument("--check", action="store_true", help="notebooks: compare, write nothing")
    ap.add_argument("--max-untranslated", type=float, default=2.0,
                    help="stat: the largest share (percent) of untranslated or fuzzy messages that passes")
    ap.add_argument("--no-extract", action="store_true", help="stat: use the .pot files in _build/gettext as they are")
    args = ap.parse_args(argv)
    os.chdir(ROOT)
    from build_book import translated_languages

    languages = args.language or translated_languages()
    if args.command == "update":
        return update(languages)
    if args.command == "notebooks":
        return max(write_notebooks(language, check=args.check) for language in languages)
    if not args.no_extract:
        print(f"gettext extraction: {extract():.0f} s")
    return max(stat(language, args.max_untranslated) for language in languages)


if __name__ == "__main__":
    sys.exit(main())
