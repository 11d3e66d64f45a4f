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
  those buttons on (book/_ext/book_links.py); a placeholder address would be a 404 for every reader;
- the language switch works: every page of every edition (English at the root, each translation of
  `book_languages` in its folder, e.g. zh_CN/) has one switch link per other language. The check
  clicks each one and fails unless it lands, without a failed request, on the same page in that
  language: the counterpart's path, `<html lang>` of that language, the same skeleton (sections,
  tables, images, formulas, code cells and the code in them, which is not translated) and a switch
  link back to the page it came from. A translated edition also needs a CJK font on the machine
  (Debian: fonts-noto-cjk), or its screenshots would show boxes instead of characters.

Each edition's search page must find a word of its language (SEARCH_PROBES; Chinese words are in
the index only when jieba is installed). It also prints how many characters of code fit on one line
of a code cell at this width (the limit that tests/test_notebook_style.py enforces on the notebooks'
sources). Screenshots of the title page, one chapter and the search of each edition go to artifacts/
(not committed). Exit status 1 on any problem.

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
import time
from pathlib import Path
from urllib.parse import quote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = {"book/intro.html": "title-page.png", "notebooks/lime.html": "lime-chapter.png",
               "zh_CN/book/intro.html": "zh_CN-title-page.png",
               "zh_CN/notebooks/pixel_attribution.html": "zh_CN-pixel-attribution-chapter.png",
               "zh_CN/notebooks/lime.html": "zh_CN-lime-chapter.png"}
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


# What makes two pages the same page in two languages: everything but the prose.
SKELETON = r"""
const code = Array.from(document.querySelectorAll('div.cell_input pre')).map(p => p.textContent).join('\n');
let hash = 0;
for (let i = 0; i < code.length; i++) hash = (hash * 31 + code.charCodeAt(i)) | 0;
const article = document.querySelector('article') || document.body;
return {lang: document.documentElement.lang,
        sections: article.querySelectorAll('section').length, tables: article.querySelectorAll('table').length,
        images: article.querySelectorAll('img').length, formulas: article.querySelectorAll('.math').length,
        code_cells: document.querySelectorAll('div.cell_input').length, code_hash: hash};
"""

SWITCH = r"""
const nav = document.querySelector('nav.language-switch');
return nav ? Array.from(nav.querySelectorAll('a.language-switch-link'))
  .map(a => ({href: a.href, hreflang: a.hreflang})) : null;
"""


# A word each edition's search must find (Sphinx's search index; Chinese words need jieba at build time).
SEARCH_PROBES = {"en": "superpixels", "zh_CN": "超像素"}

SEARCH_RESULTS = r"""
const done = arguments[arguments.length - 1];
const start = Date.now();
(function poll() {
  const items = document.querySelectorAll('#search-results ul.search li');
  const summary = document.querySelector('#search-results p.search-summary');
  if ((summary && summary.textContent.trim()) || Date.now() - start > 20000) {
    done({results: items.length, summary: summary ? summary.textContent.trim() : null});
  } else {
    setTimeout(poll, 100);
  }
})();
"""


def editions() -> list[str]:
    """The book's languages, the first at the root of the site (``book_languages`` in _config.yml)."""
    import yaml

    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    return list(config.get("sphinx", {}).get("config", {}).get("book_languages", {"en": "English"}))


def edition_of(page: str, languages: list[str]) -> tuple[str, str]:
    """(language, path inside its edition) of a page path relative to the site's root."""
    first, _, rest = page.partition("/")
    if first in languages[1:] and rest:
        return first, rest
    return languages[0], page


def counterpart(page: str, language: str, languages: list[str]) -> str:
    """The same page in ``language``'s edition."""
    path = edition_of(page, languages)[1]
    return path if language == languages[0] else f"{language}/{path}"


def cjk_font() -> bool:
    import subprocess

    try:
        out = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return bool(out.strip())


def follow_switch(driver, base: str, page: str, languages: list[str]) -> list[str]:
    """Click each language link of ``page`` (loaded): the same page in that language, or problems."""
    problems = []
    links = driver.execute_script(SWITCH)
    if links is None:
        return ["no language switch on the page"]
    here_lang = edition_of(page, languages)[0]
    expected = {lang.replace("_", "-"): lang for lang in languages if lang != here_lang}
    if sorted(link["hreflang"] for link in links) != sorted(expected):
        return [f"language switch links to {[link['hreflang'] for link in links]}, expected {sorted(expected)}"]
    skeleton = driver.execute_script(SKELETON)
    for i in range(len(links)):
        link = driver.execute_script(SWITCH)[i]
        language = expected[link["hreflang"]]
        want = base + counterpart(page, language, languages)
        before = driver.current_url
        driver.find_elements("css selector", "nav.language-switch a.language-switch-link")[i].click()
        deadline = time.time() + 20
        while time.time() < deadline and (driver.current_url == before
                                          or driver.execute_script("return document.readyState") != "complete"):
            time.sleep(0.05)
        arrived = driver.current_url.split("#")[0]
        requests = network_problems(driver, base)
        errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        there = driver.execute_script(SKELETON)
        back = [x["href"].split("#")[0] for x in (driver.execute_script(SWITCH) or [])
                if x["hreflang"] == here_lang.replace("_", "-")]
        if arrived != want:
            problems.append(f"switch to {language} leads to {arrived}, expected {want}")
        if requests or errors:
            problems.append(f"switch to {language}: {requests + errors}")
        if there["lang"] != language.replace("_", "-"):
            problems.append(f"switch to {language} lands on a page with lang={there['lang']!r}")
        same = {k: v for k, v in skeleton.items() if k != "lang"} == {k: v for k, v in there.items() if k != "lang"}
        if not same:
            problems.append(f"switch to {language}: not the same page ({skeleton} here, {there} there)")
        if back != [base + page]:
            problems.append(f"switch to {language}: its switch does not lead back here ({back})")
        if i + 1 < len(links):  # back, for the next language's link
            driver.get(base + page)
            network_problems(driver, base)
            driver.get_log("browser")
    return problems


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
                   if not any(part.startswith("_") for part in p.relative_to(root).parts) and p.name not in SKIP)
    languages = editions()
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
    problems, columns, follow_seconds = 0, {}, 0.0
    start = time.monotonic()
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
            if page in SCREENSHOTS:  # before following the switch, which leaves and reloads the page
                driver.save_screenshot(str(out / SCREENSHOTS[page]))
            follow_start = time.monotonic()
            switch = follow_switch(driver, base, page, languages)
            follow_seconds += time.monotonic() - follow_start
            ok = state == "complete" and title and not broken and not errors and not requests \
                and not math_bad and not clipped and not foreign and not switch
            problems += not ok
            print(f"{'ok ' if ok else 'BAD'} {page}: {len(images)} images, {len(broken)} broken, "
                  f"{len(errors)} console errors, {len(requests)} failed/non-local requests, "
                  f"{math['maths']} formulas ({math['mjx']} typeset, MathJax: {mathjax}), {len(clipped)} clipped, "
                  f"{len(foreign)} links off the allow-list, language switch {'ok' if not switch else 'BAD'}")
            for msg in switch:
                print(f"    language switch: {msg}")
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
        for language in languages:  # each edition's search finds a word of its language
            word = SEARCH_PROBES.get(language)
            if not word:
                continue
            prefix = "" if language == languages[0] else f"{language}/"
            driver.get(f"{base}{prefix}search.html?q={quote(word)}")
            found = driver.execute_async_script(SEARCH_RESULTS)
            ok = found["results"] > 0
            problems += not ok
            print(f"{'ok ' if ok else 'BAD'} {prefix}search.html?q={word}: {found['results']} pages found")
            driver.save_screenshot(str(out / f"{language}-search.png"))
    finally:
        driver.quit()
        server.shutdown()
    if columns:
        fit = min(c["chars"] for c in columns.values())
        sample = next(iter(columns.values()))
        print(f"code cells fit {fit} characters per line at {sample['innerWidth']} px "
              f"({sample['font']}, {sample['charWidth']:.2f} px per character, {sample['box']} px box)")
    translated = [page for page in pages if edition_of(page, languages)[0] != languages[0]]
    if translated and any(lang.startswith(("zh", "ja", "ko")) for lang in languages) and not cjk_font():
        print("BAD no CJK font on this machine (fc-list :lang=zh is empty): the screenshots of the Chinese "
              "pages would show boxes; install one (Debian: apt-get install fonts-noto-cjk)")
        problems += 1
    by_language = {lang: sum(edition_of(p, languages)[0] == lang for p in pages) for lang in languages}
    print(f"{len(pages)} pages checked ({', '.join(f'{n} {lang}' for lang, n in by_language.items())}), "
          f"each page's language switch followed, {problems} with problems; screenshots in {out}/")
    print(f"{time.monotonic() - start:.0f} s in the browser, {follow_seconds:.0f} s of them following the "
          f"language switches")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
