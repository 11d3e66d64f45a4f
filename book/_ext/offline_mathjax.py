"""Serve MathJax from the book itself, so that formulas are typeset offline (no CDN).

MathJax 3 is installed from npm at the exact version pinned in book/_mathjax/package.json (and its
package-lock.json) by `make install` (`npm ci --prefix book/_mathjax`). This extension points Sphinx's
`mathjax_path` at `_static/mathjax/tex-chtml.js` and copies the parts of MathJax's `es5/` folder that
the CommonHTML build loads (the script, TeX input and its extensions, CHTML fonts, menu, a11y) into
the built book's `_static/mathjax/`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sphinx.errors import ConfigError

ES5 = Path(__file__).resolve().parents[1] / "_mathjax" / "node_modules" / "mathjax" / "es5"
SCRIPT = "tex-chtml.js"
PARTS = (SCRIPT, "input", "output/chtml", "ui", "a11y", "sre")
TARGET = "mathjax"  # under _static/


def _configure(app, config):
    if not (ES5 / SCRIPT).is_file():
        raise ConfigError(f"MathJax is not installed ({ES5 / SCRIPT} is missing): run `make install` "
                          "(or `npm ci --prefix book/_mathjax`)")
    config.mathjax_path = f"{TARGET}/{SCRIPT}"  # relative paths are relative to _static/


def _copy(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    target = Path(app.outdir) / "_static" / TARGET
    for part in PARTS:
        src, dst = ES5 / part, target / part
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True)
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)


def setup(app):
    app.connect("config-inited", _configure)
    app.connect("build-finished", _copy)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
