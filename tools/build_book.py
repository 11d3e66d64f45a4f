"""Build a translated edition of the book: `jupyter-book build .` with Sphinx's `language` set.

Jupyter Book 1 has no language option on its command line and no multilingual build. This runs what
``jupyter-book build . --warningiserror --nitpick --keep-going`` runs (the same ``_config.yml`` and
``_toc.yml``, the same Sphinx call, warnings as errors) with ``language`` set, into a build folder of
its own (``_build/<language>/``: its HTML, doctrees and notebook outputs), and then copies the HTML
into the English site as ``_build/html/<language>/``: one site, English at the root, each
translation in its folder (``book_languages`` in ``_config.yml``; ``book/_ext/book_languages.py``
links every page to the same page in the other languages).

Sphinx translates every message of every page and chapter from
``locales/<language>/LC_MESSAGES/<page>.po`` (compiled to ``.mo`` beside it by the build; untranslated
and fuzzy messages stay English), and the themes' labels from their own catalogs.

Usage (from the repository's root; ``make book`` runs the English build, then this):
    python tools/build_book.py [--language zh_CN ...] [--site _build/html] [--no-warnings-as-errors]
Exit status: Jupyter Book's (non-zero on any warning).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def translated_languages() -> list[str]:
    """The book's languages but the first (built at the root): ``book_languages`` in _config.yml."""
    import yaml

    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    return list(config.get("sphinx", {}).get("config", {}).get("book_languages", {}))[1:]


def sphinx_build(builder: str, language: str, output: Path, doctrees: Path, strict: bool = True,
                 quiet: bool = False):
    """Run Sphinx as ``jupyter-book build . --nitpick [--warningiserror --keep-going]`` does, plus
    ``language``, with ``builder`` (html or gettext) into ``output``; exits on a failed build."""
    import click
    from jupyter_book.cli.main import build as jb_build
    from jupyter_book.cli.main import builder_specific_actions
    from jupyter_book.sphinx import build_sphinx

    # What `jupyter-book build . --nitpick` passes to Sphinx (config file, toc, nitpicky) ...
    path_config, source, overrides = jb_build.callback(
        path_source=str(ROOT), path_output=None, config=None, toc=None, warningiserror=strict,
        nitpick=True, keep_going=strict, freshenv=False, builder="html", custom_builder=None,
        verbose=0, quiet=0, individualpages=False, get_config_only=True)
    # ... plus the language (the toc path absolute, as in a real build).
    overrides["external_toc_path"] = str(ROOT / "_toc.yml")
    overrides["language"] = language
    result = build_sphinx(source, output, use_external_toc=True, noconfig=True, path_config=str(path_config),
                          confoverrides=overrides, builder=builder, doctreedir=doctrees,
                          warningiserror=strict, keep_going=strict, quiet=quiet)
    builder_specific_actions(result, builder, output, "book", None, click.echo)  # exits on failure


def build(language: str, site: Path, strict: bool = True) -> int:
    """The ``language`` edition into _build/<language>/html, then copied to <site>/<language>/."""
    output = ROOT / "_build" / language / "html"
    print(f"Building the {language} edition into {output}")
    sphinx_build("html", language, output, output.parent / ".doctrees", strict)
    target = site / language
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(output, target)
    print(f"The {language} edition is at {target / 'index.html'}")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--language", action="append",
                    help="default: every translation in book_languages (_config.yml)")
    ap.add_argument("--site", type=Path, default=ROOT / "_build" / "html",
                    help="the English site, where the edition goes as <site>/<language>/")
    ap.add_argument("--no-warnings-as-errors", action="store_true")
    args = ap.parse_args(argv)
    status = 0
    for language in args.language or translated_languages():
        start = time.monotonic()
        status |= build(language, args.site.resolve(), strict=not args.no_warnings_as_errors)
        print(f"{language} build: {time.monotonic() - start:.0f} s")
    return status


if __name__ == "__main__":
    sys.exit(main())
