"""Open every page of the built book in headless Chromium and check it like a reader would, offline.

For each HTML page of _build/html (served over http on 127.0.0.1, in a window 1280 px wide):

- the page loads and every <img> has a non-zero natural size;
- the browser console shows no errors;
- no request failed (network error or HTTP status >= 400) and no request went to a host other than
  127.0.0.1: the book must read correctly offline (the browser cannot resolve other hosts at all);
- math is typeset: every Sphinx math element (`.math`) holds MathJax output (`mjx-container`), and
  no raw TeX delimiters (`$...$`, `\\(`, `\\[`) are left in the page's text outside code;
- nothing is clipped: no `pre` (a code cell's source or an output) is wider than its box
  (scrollWidth > clientWidth), i.e. no code line scrolls sideways;
- every link (`<a href>`) leads to the book itself or to a host on the allow-list: `book_link_hosts`
  in `_config.yml`, plus the repository's and launch services' hosts when `BOOK_REPOSITORY_URL` turns
  those buttons on (book/_ext/book_links.py); a placeholder address would be a 404 for every reader.

It also prints how many characters of code fit on one line of a code cell at this width (the limit
that tests/test_notebook_style.py enforces on the notebooks' sources). Screenshots of the title page
and one chapter go to artifacts/ (not committed). Exit status 1 on any problem.

Needs Debian's chromium and chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver) and selenium.
Usage: python tools/browser_check.py [--html _build/html] [--out artifacts] [--width 1280]
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import sys
import tempfile
import threading
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = {"book/intro.html": "title-page.png", "notebooks/lime.html": "lime-chapter.png"}
SKIP = {"genindex.html", "search.html", "index.html"}  # generated index/search pages and the redirect
LOCAL_HOSTS = {"127.0.0.1"}

# Wait (at most 20 s) for MathJax, if the page loaded it, to finish typesetting.
WAIT_FOR_MATHJAX = """
const done = arguments[arguments.length - 1];
const start = Date.now();
(function poll() {
  const mj = window.MathJax;
  if (mj && mj.startup && mj.startup.promise) {
    mj.startup.promise.then(() => done('typeset'), e => done('error: ' + e));
  } else if (!document.querySelector('script[src*="mathjax"], script[src*="MathJax"]') || Date.now() - start > 20000) {
    done(mj ? 'no startup promise' : 'not loaded');
  } else {
    setTimeout(poll, 100);
  }
})();
"""

MATH_STATE = r"""
const maths = Array.from(document.querySelectorAll('.math'));
const untypeset = maths.filter(m => !m.querySelector('mjx-container')).map(m => m.textContent.trim().slice(0, 80));
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT, {
  acceptNode: n => n.parentElement.closest('pre, code, script, style, textarea, mjx-container, .math')
    ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT});
const raw = [];
const tex = /\$[^$\s][^$]*\$|\\\(|\\\)|\\\[|\\\]/;
for (let n = walker.nextNode(); n; n = walker.nextNode()) {
  if (tex.test(n.textContent)) raw.push(n.textContent.trim().slice(0, 80));
}
return {maths: maths.length, untypeset: untypeset, raw: raw,
        mjx: document.querySelectorAll('mjx-container').length};
"""

# Every <pre> wider than its box; for a notebook cell: which code cell (1-based on the page), input
# or output, and the longest line.
CLIPPED = r"""
const cells = Array.from(document.querySelectorAll('div.cell'));
return Array.from(document.querySelectorAll('pre')).filter(p => p.scrollWidth > p.clientWidth + 1).map(p => {
  const cell = p.closest('div.cell');
  const lines = p.textContent.split('\n');
  const longest = lines.reduce((a, b) => (b.length > a.length ? b : a), '');
  return {cell: cell ? cells.indexOf(cell) + 1 : null,
          part: p.closest('.cell_output') ? 'output' : (p.closest('.cell_input') ? 'input' : 'page'),
          tags: cell ? Array.from(cell.classList).filter(c => c.startsWith('tag_')) : [],
          overflow: p.scrollWidth - p.clientWidth, chars: longest.length, line: longest.slice(0, 100)};
});
"""

# How many monospace characters fit on one line of the first code cell's source.
CODE_COLUMN = r"""
const pre = document.querySelector('div.cell_input pre');
if (!pre) return null;
const probe = document.createElement('span');
probe.textContent = 'x'.repeat(200);
pre.appendChild(probe);
const charWidth = probe.getBoundingClientRect().width / 200;
probe.remove();
const cs = getComputedStyle(pre);
const inner = pre.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
return {chars: Math.floor(inner / charWidth), box: pre.clientWidth, charWidth: charWidth,
        font: cs.fontSize + ' ' + cs.fontFamily.split(',')[0], innerWidth: window.innerWidth};
"""


# Every link's target host (none for links within the book).
LINK_HOSTS = r"""
return Array.from(document.querySelectorAll('a[href]')).map(a => a.href)
  .filter(h => /^(https?|wss?):/.test(h) && new URL(h).hostname !== location.hostname);
"""


def link_allow_list() -> set[str]:
    """The hosts the book may link to, as book/_ext/book_links.py computes them from _config.yml."""
    import yaml

    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    import book_links

    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    return book_links.allowed_hosts(config.get("sphinx", {}).get("config", {}).get("book_link_hosts", []))


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(root: Path):
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def browser(width: int, height: int = 2000):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--hide-scrollbars",
                 # Offline like a reader without internet: no host but the local server resolves.
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                 f"--window-size={width},{height}", f"--user-data-dir={tempfile.mkdtemp(prefix='chromium-')}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    driver.set_script_timeout(30)
    # The window's outer size includes no chrome in headless mode, but make the viewport exact.
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
    return driver


def network_problems(driver, base: str) -> list[str]:
    """Failed or non-local requests since the last call, from Chrome's DevTools (performance) log."""
    urls, problems = {}, []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        method, params = msg.get("method"), msg.get("params", {})
        if method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            urls[params["requestId"]] = url
            parts = urlsplit(url)
            if parts.scheme in ("http", "https", "ws", "wss") and parts.hostname not in LOCAL_HOSTS:
                problems.append(f"non-local request: {url}")
        elif method == "Network.responseReceived":
            status = params["response"]["status"]
            if status >= 400:
                problems.append(f"HTTP {status}: {params['response']['url']}")
        elif method == "Network.loadingFailed" and not params.get("canceled"):
            problems.append(f"failed ({params.get('errorText')}): {urls.get(params['requestId'], '?')}")
    return list(dict.fromkeys(problems))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--html", default="_build/html")
    ap.add_argument("--out", default="artifacts")
    ap.add_argument("--width", type=int, default=1280, help="window width in CSS pixels (default 1280)")
    args = ap.parse_args()
    root, out = Path(args.html).resolve(), Path(args.out)
    pages = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.html")
                   if not p.relative_to(root).parts[0].startswith("_") and p.name not in SKIP)
    if not pages:
        print(f"no pages under {root}: build the book first (make book)")
        return 1
    out.mkdir(parents=True, exist_ok=True)
    server = serve(root)
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    driver = browser(args.width)
    driver.get("about:blank")
    network_problems(driver, base)  # drop the browser's own start-up requests: only pages' count
    driver.get_log("browser")
    problems, columns = 0, {}
    allowed = link_allow_list()
    try:
        for page in pages:
            driver.get(base + page)
            mathjax = driver.execute_async_script(WAIT_FOR_MATHJAX)
            state = driver.execute_script("return document.readyState")
            title = driver.title
            images = driver.execute_script(
                "return Array.from(document.images).map(i => [i.currentSrc || i.src, i.complete, i.naturalWidth])")
            broken = [src for src, complete, width in images if not complete or not width]
            math = driver.execute_script(MATH_STATE)
            math_bad = bool(math["untypeset"] or math["raw"]) or (math["maths"] and mathjax != "typeset")
            clipped = driver.execute_script(CLIPPED)
            column = driver.execute_script(CODE_COLUMN)
            if column:
                columns[page] = column
            foreign = sorted({u for u in driver.execute_script(LINK_HOSTS)
                              if urlsplit(u).hostname not in allowed})
            requests = network_problems(driver, base)
            errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
            ok = state == "complete" and title and not broken and not errors and not requests \
                and not math_bad and not clipped and not foreign
            problems += not ok
            print(f"{'ok ' if ok else 'BAD'} {page}: {len(images)} images, {len(broken)} broken, "
                  f"{len(errors)} console errors, {len(requests)} failed/non-local requests, "
                  f"{math['maths']} formulas ({math['mjx']} typeset, MathJax: {mathjax}), {len(clipped)} clipped, "
                  f"{len(foreign)} links off the allow-list")
            for url in foreign:
                print(f"    link to a host not on the allow-list (_config.yml book_link_hosts): {url}")
            for src in broken:
                print(f"    broken image: {src}")
            for msg in errors:
                print(f"    console: {msg}")
            for msg in requests:
                print(f"    request: {msg}")
            for tex in math["untypeset"]:
                print(f"    untypeset formula: {tex}")
            for text in math["raw"]:
                print(f"    raw TeX in the text: {text}")
            for c in clipped:
                where = f"code cell {c['cell']} {c['part']}" if c["cell"] else "a code block"
                tags = f" {' '.join(c['tags'])}" if c["tags"] else ""
                print(f"    clipped: {where}{tags}, {c['overflow']} px too wide, "
                      f"longest line {c['chars']} chars: {c['line']}")
            if page in SCREENSHOTS:
                driver.save_screenshot(str(out / SCREENSHOTS[page]))
    finally:
        driver.quit()
        server.shutdown()
    if columns:
        fit = min(c["chars"] for c in columns.values())
        sample = next(iter(columns.values()))
        print(f"code cells fit {fit} characters per line at {sample['innerWidth']} px "
              f"({sample['font']}, {sample['charWidth']:.2f} px per character, {sample['box']} px box)")
    print(f"{len(pages)} pages checked, {problems} with problems; screenshots in {out}/")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
