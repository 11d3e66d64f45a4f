"""Open every page of the built book in headless Chromium and check it like a reader would.

For each HTML page of _build/html (served over http on 127.0.0.1): the page loads, every <img> has a
non-zero natural size, and the browser console shows no errors. Screenshots of the title page and one
chapter go to artifacts/ (not committed). Exit status 1 on any problem.

Needs Debian's chromium and chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver) and selenium.
Usage: python tools/browser_check.py [--html _build/html] [--out artifacts]
"""

from __future__ import annotations

import argparse
import functools
import http.server
import sys
import tempfile
import threading
from pathlib import Path

SCREENSHOTS = {"book/intro.html": "title-page.png", "notebooks/lime.html": "lime-chapter.png"}
SKIP = {"genindex.html", "search.html", "index.html"}  # generated index/search pages and the redirect


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(root: Path):
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def browser(width=1300, height=2000):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--window-size={width},{height}", f"--user-data-dir={tempfile.mkdtemp(prefix='chromium-')}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--html", default="_build/html")
    ap.add_argument("--out", default="artifacts")
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
    driver = browser()
    problems = 0
    try:
        for page in pages:
            driver.get(base + page)
            state = driver.execute_script("return document.readyState")
            title = driver.title
            images = driver.execute_script(
                "return Array.from(document.images).map(i => [i.currentSrc || i.src, i.complete, i.naturalWidth])")
            broken = [src for src, complete, width in images if not complete or not width]
            logged = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
            # Offline (as in CI) a CDN script such as MathJax cannot load: noted, not a page error.
            offline = [m for m in logged if "net::ERR_" in m and not m.startswith(base)]
            errors = [m for m in logged if m not in offline and "/favicon.ico" not in m]
            ok = state == "complete" and title and not broken and not errors
            problems += not ok
            print(f"{'ok ' if ok else 'BAD'} {page}: {len(images)} images, {len(broken)} broken, {len(errors)} console errors")
            for src in broken:
                print(f"    broken image: {src}")
            for msg in errors:
                print(f"    console: {msg}")
            for msg in offline:
                print(f"    (offline, not counted) {msg}")
            if page in SCREENSHOTS:
                driver.save_screenshot(str(out / SCREENSHOTS[page]))
    finally:
        driver.quit()
        server.shutdown()
    print(f"{len(pages)} pages checked, {problems} with problems; screenshots in {out}/")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
