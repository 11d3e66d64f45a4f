"""Open every chapter notebook in JupyterLab, as a student would, and look for raw markup.

Starts JupyterLab (the project's venv) on 127.0.0.1 with a random token, opens each notebook of
``notebooks/`` and of its translations (``notebooks/zh_CN/``, written by tools/translations.py) in
headless Chromium (Debian's chromium and chromium-driver, as tools/browser_check.py),
waits until every markdown cell is rendered (JupyterLab's windowing is turned off so that all cells
render, not only the visible ones) and reads the rendered markdown's text. A notebook fails if that
text holds anything that plain JupyterLab shows literally instead of rendering it: MyST roles
(``{glue:text}`...```, ``{ref}`...```, ``{doc}`...```, any ``{name}`...```), label targets (``(name)=``),
directive fences (``:::``, ```` ```{name} ````) or unrendered TeX (``$$``).

The same run opens a probe notebook with one raw role and fails unless the check finds it, so a
check that has stopped seeing markup cannot pass. Screenshots of each notebook's first screen go to
``--out`` (default ``artifacts/jupyterlab``). The browser reaches no host but 127.0.0.1.

Usage: python tools/jupyterlab_check.py [--out artifacts/jupyterlab] [--english-only] [NOTEBOOK ...]
Exit status 0 when every notebook is clean (and the probe is caught), 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from browser_check import browser  # noqa: E402  (the same headless Chromium, offline)

# MyST markup that JupyterLab does not render: roles, label targets, directive fences (in a source).
MARKUP = r"\{[A-Za-z][\w:.-]*\}`|^\([\w.:-]+\)=\s*$|^:::|^```\{"
# In the rendered text a role's backticks have become code, "{glue:text}share:.0%": a {name} with text
# right after it; also display math that MathJax left untypeset.
RAW = re.compile(MARKUP + r"|\{[A-Za-z][\w:.-]*\}(?=\S)|\$\$", re.M)
PROBE = "raw-markup-probe.ipynb"

RENDERED = r"""
const cells = Array.from(document.querySelectorAll('.jp-Notebook .jp-MarkdownCell'));
const rendered = cells.map(c => c.querySelector('.jp-RenderedMarkdown'));
return {cells: cells.length, rendered: rendered.filter(r => r).length,
        texts: rendered.filter(r => r).map(r => r.innerText)};
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def default_notebooks(english_only: bool = False) -> list[Path]:
    """The chapters, then their translations (book_languages in _config.yml)."""
    from build_book import translated_languages

    folders = [ROOT / "notebooks"] + ([] if english_only else
                                      [ROOT / "notebooks" / lang for lang in translated_languages()])
    return [p for folder in folders for p in sorted(folder.glob("*.ipynb"))]


def served_name(path: Path) -> str:
    """Where a notebook is served: its path inside notebooks/ (zh_CN/lime.ipynb), else its name."""
    try:
        return path.relative_to(ROOT / "notebooks").as_posix()
    except ValueError:
        return path.name


def markdown_cells(path: Path) -> int:
    return sum(c["cell_type"] == "markdown" for c in json.loads(path.read_text(encoding="utf-8"))["cells"])


def write_probe(folder: Path) -> Path:
    """A two-cell notebook whose markdown holds one raw role: the check must flag it."""
    nb = {"cells": [{"cell_type": "markdown", "id": "probe", "metadata": {},
                     "source": ["# Probe\n", "\n", "The share is {glue:text}`share:.0%`."]}],
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    path = folder / PROBE
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path


def start_lab(root: Path, settings: Path, port: int, token: str) -> subprocess.Popen:
    """JupyterLab on 127.0.0.1:port serving ``root``, windowing off, no news or update checks."""
    tracker = settings / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True)
    (tracker / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    notes = settings / "@jupyterlab" / "apputils-extension"
    notes.mkdir(parents=True)
    (notes / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false",
                                                                        "checkForUpdates": False}))
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(settings),
               JUPYTERLAB_WORKSPACES_DIR=str(settings / "workspaces"))
    cmd = [str(Path(sys.executable).parent / "jupyter"), "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={root}", "--LabApp.news_url=", "--ServerApp.open_browser=False",
           "--ServerApp.allow_root=True"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2)
            return proc
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"JupyterLab did not start: {proc.stderr.read()[-2000:]}")
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("JupyterLab did not answer on 127.0.0.1 within 60 s")


def inspect(driver, url: str, expected: int, shot: Path) -> tuple[list[str], str]:
    """Open ``url``, wait for ``expected`` rendered markdown cells; return (raw hits, status)."""
    driver.get(url)
    deadline, state = time.time() + 90, {"cells": 0, "rendered": 0, "texts": []}
    while time.time() < deadline:
        state = driver.execute_script(RENDERED)
        if state["cells"] >= expected and state["rendered"] >= expected:
            break
        time.sleep(0.5)
    else:
        return [], f"only {state['rendered']} of {expected} markdown cells rendered in 90 s"
    time.sleep(1.0)  # let MathJax typeset before reading and the screenshot
    state = driver.execute_script(RENDERED)
    hits = []
    for i, text in enumerate(state["texts"]):
        for m in RAW.finditer(text):
            line = text[max(0, m.start() - 30): m.end() + 30].replace("\n", " ")
            hits.append(f"markdown cell {i + 1}: ...{line}...")
    driver.save_screenshot(str(shot))
    return hits, f"{state['rendered']} markdown cells rendered"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    ap.add_argument("--out", type=Path, default=ROOT / "artifacts" / "jupyterlab")
    ap.add_argument("--english-only", action="store_true", help="without the translated notebooks")
    args = ap.parse_args(argv)
    paths = [p.resolve() for p in args.notebooks] or default_notebooks(args.english_only)
    missing = [str(p) for p in paths if not p.is_file()]
    if missing or not paths:
        print(f"error: no such notebook: {', '.join(missing) or 'notebooks/*.ipynb'}", file=sys.stderr)
        return 2
    for tool in ("/usr/bin/chromium", "/usr/bin/chromedriver"):
        if not Path(tool).exists():
            print(f"error: {tool} is missing: apt-get install chromium chromium-driver", file=sys.stderr)
            return 2
    args.out.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix="jlab-check-") as tmp:
        tmp = Path(tmp)
        served = tmp / "root"
        served.mkdir()
        for p in paths:  # the notebooks as they are (translations in their folder), plus the probe
            (served / served_name(p)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(p, served / served_name(p))
        probe = write_probe(served)
        port, token = free_port(), secrets.token_hex(16)
        lab = start_lab(served, tmp / "settings", port, token)
        driver = browser(1280, 1000)
        failures = 0
        try:
            for path in [probe, *paths]:
                name = served_name(path)
                url = f"http://127.0.0.1:{port}/lab/tree/{name}?token={token}&reset"
                hits, status = inspect(driver, url, markdown_cells(served / name),
                                       args.out / f"{Path(name).with_suffix('').as_posix().replace('/', '-')}.png")
                if path == probe:
                    ok = bool(hits)
                    print(f"{'ok ' if ok else 'BAD'} probe: {'raw role found' if ok else 'raw role NOT found'} "
                          f"({status})")
                else:
                    ok = not hits and "rendered" in status and "only" not in status
                    print(f"{'ok ' if ok else 'BAD'} {name}: {status}, {len(hits)} raw markup")
                    for h in hits:
                        print(f"    {h}")
                failures += not ok
        finally:
            driver.quit()
            lab.terminate()
            try:
                lab.wait(timeout=20)
            except subprocess.TimeoutExpired:
                lab.kill()
        (args.out / f"{Path(PROBE).stem}.png").unlink(missing_ok=True)
    print(f"{len(paths)} notebooks opened in JupyterLab, {failures} with problems; screenshots in {args.out}/")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
