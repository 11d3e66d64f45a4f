"""One book in several languages: a language switch on every page, and what is (not) a message.

The book is built once per language from the same sources (``make book``, ``tools/build_book.py``):
the first language of ``book_languages`` (``_config.yml``) at the root of the site, every other one
under ``<language>/`` (``zh_CN/``). Sphinx translates each page message by message from
``locales/<language>/LC_MESSAGES/<page>.po``; the theme's own labels come from the themes' and
Sphinx's catalogs for that language (``locales/<language>/LC_MESSAGES/sphinx.po`` adds or overrides
labels, and holds this extension's own).

This extension

- puts a language switch into every page's header: plain links, one per other language, to the same
  page in that language (``../zh_CN/notebooks/lime.html`` from ``notebooks/lime.html`` and back),
  plus ``<link rel="alternate" hreflang=...>`` in the page's head;
- keeps formulas (``$$...$$`` blocks) and everything inside a notebook cell's output out of the
  messages: a formula is the same in every language, and an output is what the code printed, so
  it must not be translated (it is identical in both editions);
- gives the translated edition the translated book title: the title of the root page (the book's
  title, ``book/intro``'s heading) as its catalog translates it;
- translates the labels that the themes and extensions leave English in a language (their catalogs
  lack it, or sphinx-togglebutton's folder name ``zh-cn`` is not found): they are listed in
  ``templates/ui-labels.html``, so the gettext builder extracts them into ``sphinx.po``, and the
  translations from there are used by Sphinx and pydata-sphinx-theme (same catalog domain), put in
  front of sphinx-book-theme's own catalog, and set as Jupyter Book's search text and
  sphinx-togglebutton's hints;
- makes search work in Chinese: a query is split into the words of the search index
  (``static/cjk-search.js``; the index's Chinese words come from jieba, which Sphinx uses when it is
  installed, requirements.txt);
- warns (an error in the book's builds) when a translated message's Markdown did not parse, so that
  ``**``, backticks or ``](`` would show as text.

``tools/browser_check.py`` follows every page's switch and checks that it lands on the same page in
the other language.
"""

from __future__ import annotations

from pathlib import Path

from docutils import nodes
from sphinx.transforms import SphinxTransform

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"


def languages(config) -> dict[str, str]:
    """``{language: label}`` in order; the first one is built at the root of the site."""
    return dict(config.book_languages or {"en": "English"})


def current_language(config) -> str:
    return config.language or "en"


def site_prefix(config, language: str) -> str:
    """The folder of ``language``'s edition inside the site: ``""`` for the root language."""
    return "" if language == next(iter(languages(config))) else f"{language}/"


def switch_links(config, pagename: str, suffix: str = ".html") -> list[dict]:
    """For each language: its label, the relative link from ``pagename`` to the same page in it."""
    here = current_language(config)
    # From this page up to the root of the whole site (above this edition's folder, if any).
    up = "../" * (pagename.count("/") + site_prefix(config, here).count("/"))
    links = []
    for language, label in languages(config).items():
        links.append({"language": language, "label": label, "current": language == here,
                      "hreflang": language.replace("_", "-"),
                      "href": f"{up}{site_prefix(config, language)}{pagename}{suffix}"})
    return links


class KeepOutOfMessages(SphinxTransform):
    """Formulas and notebook outputs are not messages (before Sphinx's Locale transform, 20)."""

    default_priority = 10

    def apply(self, **kwargs) -> None:
        for node in self.document.findall(nodes.math_block):
            node["translatable"] = False
        for output in self.document.findall(nodes.container):
            if "cell_output" in output.get("classes", []):
                for node in output.findall(nodes.TextElement):
                    node["translatable"] = False


class CheckTranslatedMarkup(SphinxTransform):
    """A translated message whose Markdown did not parse shows its markup as text: ``**``, a
    backtick, ``](``. Warn (an error in the book's builds), naming the message's page and line.

    CommonMark's emphasis rules are the usual cause in Chinese: ``**“引号”**后`` does not close
    (punctuation inside the ``**``, a letter outside); write ``**引号**`` or add the quotes outside."""

    default_priority = 25  # after Sphinx's Locale transform (20)

    def apply(self, **kwargs) -> None:
        from sphinx.util import logging

        logger = logging.getLogger(__name__)
        for node in self.document.findall(nodes.TextElement):
            if not node.get("translated"):
                continue
            text = "".join(t.astext() for t in node.findall(nodes.Text)
                           if not isinstance(t.parent, (nodes.literal, nodes.math, nodes.math_block,
                                                        nodes.literal_block, nodes.raw)))
            for mark in ("**", "`", "]("):
                if mark in text:
                    logger.warning("translated message shows Markdown as text (%r): %s", mark, text[:120],
                                   location=node, type="i18n", subtype="markup")
                    break


def _page_context(app, pagename, templatename, context, doctree):
    links = switch_links(app.config, pagename, context.get("file_suffix") or ".html")
    context["language_links"] = links
    alternates = "".join(f'<link rel="alternate" hreflang="{link["hreflang"]}" href="{link["href"]}" />\n'
                         for link in links if not link["current"])
    context["metatags"] = context.get("metatags", "") + alternates


def translated(config) -> bool:
    return site_prefix(config, current_language(config)) != ""


def _labels(app, config):
    """Jupyter Book's search text and sphinx-togglebutton's hints, from the ``sphinx`` catalog (before
    sphinx-togglebutton writes its hints into the pages' scripts at config-inited)."""
    if not translated(config):
        return
    from sphinx.locale import _

    options = dict(config.html_theme_options)
    if options.get("search_bar_text") == "Search this book...":
        options["search_bar_text"] = str(_("Search this book..."))
        config.html_theme_options = options
    for name, english in (("togglebutton_hint", "Click to show"), ("togglebutton_hint_hide", "Click to hide")):
        if getattr(config, name, None) == english:
            setattr(config, name, str(_(english)))


def _front_catalog(app):
    """Our ``sphinx`` catalog in front of sphinx-book-theme's (``booktheme``): its labels that the
    theme translates wrongly or not at all for this language come from ``sphinx.po``."""
    if not translated(app.config):
        return
    import gettext

    from sphinx import locale

    for folder in app.config.locale_dirs:
        mo = Path(app.srcdir) / folder / app.config.language / "LC_MESSAGES" / "sphinx.mo"
        if not mo.is_file():
            continue
        with mo.open("rb") as f:
            ours = gettext.GNUTranslations(f)  # not gettext.translation(): its cache is shared
        theirs = locale.translators.get(("general", "booktheme"))
        if theirs is not None:
            ours.add_fallback(theirs)
        locale.translators[("general", "booktheme")] = ours


def _configure(app, config):
    config.templates_path = [*config.templates_path, str(TEMPLATES)]
    config.html_static_path = [*config.html_static_path, str(STATIC)]
    options = dict(config.html_theme_options)
    end = list(options.get("article_header_end") or ["article-header-buttons.html"])
    if "language-switch.html" not in end:
        options["article_header_end"] = ["language-switch.html", *end]
    config.html_theme_options = options
    if current_language(config).startswith(("zh", "ja")):
        app.add_js_file("cjk-search.js", priority=200)


def _translate_title(app, env):
    """The translated edition's title: the root page's title as the root page's catalog has it."""
    if not translated(app.config):
        return
    from sphinx.locale import init as init_locale
    from sphinx.util.i18n import docname_to_domain

    dirs = [str(Path(app.srcdir) / d) for d in app.config.locale_dirs]
    domain = docname_to_domain(app.config.root_doc, app.config.gettext_compact)
    catalog, found = init_locale(dirs, app.config.language, domain)
    if found:
        for name in ("html_title", "project"):
            value = getattr(app.config, name, None)
            if value:
                setattr(app.config, name, catalog.gettext(value))


def setup(app):
    app.add_config_value("book_languages", {"en": "English"}, "html")
    app.add_transform(KeepOutOfMessages)
    app.add_transform(CheckTranslatedMarkup)
    app.connect("config-inited", _configure)
    app.connect("config-inited", _labels, priority=400)  # before sphinx-togglebutton's (500)
    app.connect("builder-inited", _front_catalog)
    app.connect("env-updated", _translate_title)
    app.connect("html-page-context", _page_context)
    app.add_css_file("language-switch.css")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
