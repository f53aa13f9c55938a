"""Build the docs, open pages in headless Chromium, save screenshots and check what they show.

    python scripts/screenshot_docs.py [--out DIR] [--site DIR] [--mermaid FILE] [PAGE ...]

For each page (a path under the site, optionally with ``#anchor``; by default the pages
with diagrams and a few reference pages) it writes a 1280 px wide PNG to ``--out``
(default ``screenshots/``, not committed) and prints one line of checks read from the
rendered page:

* ``diagrams``: mermaid blocks drawn as diagrams (``pre.mermaid`` left as text counts as
  ``raw``; a drawn diagram must be at least 40 px high);
* ``code``: code blocks on the page, and how many of their lines overflow the block's width
  (measured with the block's own font, as the reader sees it at 1280 px).

The exit status is 1 when a page has a raw diagram or an overflowing code line.

Needs: the ``docs`` extra (mkdocs) in the running interpreter or ``.nox/docs``; Chromium
(Debian: ``apt-get install chromium``); and mermaid's browser bundle. Material for MkDocs
loads mermaid from a CDN the first time a page has a diagram; a machine without that CDN
passes ``--mermaid path/to/mermaid.min.js``, or lets the script fetch the npm package
(``npm pack mermaid@11``) into ``--cache``. The bundle is put on the served copy of the
site only (the page then uses it instead of the CDN, through Material's own loader).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import html
import http.server
import json
import pathlib
import re
import shutil
import socketserver
import subprocess
import sys
import tarfile
import tempfile
import threading
from collections.abc import Iterator

ROOT = pathlib.Path(__file__).resolve().parent.parent

#: Pages with diagrams (each at its section), then reference pages.
DEFAULT_PAGES = (
    "architecture/#a-chunks-states-in-the-journal",
    "providers/openapi-pec/#a-mailboxs-life",
    "rate-limits/#a-timeline-of-one-scope",
    "bulk/#what-it-does",
    "receipts/#per-recipient-outcomes-pec",
    "reference/errors/",
    "reference/pecmassiva/",
    "reference/openapi-pec/",
    "reference/testing/",
    "reference/sync/",
)
WIDTH = 1280
HEIGHT = 2400
#: Milliseconds of virtual time Chromium gives the page's scripts before the snapshot.
BUDGET_MS = 15_000

# Runs in the page after load: mermaid hosts and raw blocks, and code lines wider than
# their block. The result is written into the DOM, where --dump-dom can read it.
PROBE = """
<script>
window.addEventListener("load", () => setTimeout(() => {
  const out = {drawn: 0, raw: 0, flat: 0, blocks: 0, overflow: []};
  for (const host of document.querySelectorAll("div.mermaid")) {
    if (host.getBoundingClientRect().height >= 40) out.drawn++; else out.flat++;
  }
  out.raw = document.querySelectorAll("pre.mermaid").length;
  const canvas = document.createElement("canvas").getContext("2d");
  for (const code of document.querySelectorAll(".md-content pre > code")) {
    out.blocks++;
    const style = getComputedStyle(code);
    canvas.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
    const room = code.clientWidth - parseFloat(style.paddingLeft)
      - parseFloat(style.paddingRight);
    const columns = Math.floor(room / canvas.measureText("0").width);
    out.columns = Math.min(out.columns ?? columns, columns);
    const before = out.overflow.length;
    for (const line of code.textContent.split("\\n")) {
      const width = canvas.measureText(line).width;
      if (width > room + 1) out.overflow.push(line.trim().slice(0, 90));
    }
    if (code.scrollWidth > code.clientWidth + 1 && out.overflow.length === before) {
      out.overflow.push("(a block scrolls: " + code.textContent.slice(0, 60) + ")");
    }
  }
  // ?shot=ID: the section from heading ID on starts the page (what came before is hidden),
  // so the screenshot shows it without scrolling.
  const focus = new URLSearchParams(location.search).get("shot");
  const target = focus && document.getElementById(focus);
  if (target) {
    for (let el = target.previousElementSibling; el; el = el.previousElementSibling) {
      el.style.display = "none";
    }
    window.scrollTo(0, 0);
  }
  out.focused = !!target;
  const tag = document.createElement("script");
  tag.type = "application/json";
  tag.id = "screenshot-probe";
  tag.textContent = JSON.stringify(out);
  document.body.appendChild(tag);
}, 3000));
</script>
"""


def find_mkdocs() -> list[str]:
    """The mkdocs command: this interpreter's, or the nox docs session's."""
    with contextlib.suppress(ImportError):
        import mkdocs  # noqa: F401

        return [sys.executable, "-m", "mkdocs"]
    nox_bin = ROOT / ".nox" / "docs" / "bin" / "mkdocs"
    if nox_bin.exists():
        return [str(nox_bin)]
    raise SystemExit("mkdocs not found: pip install -e '.[docs]' or run `nox -s docs` once")


def find_chromium() -> str:
    """The Chromium executable."""
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise SystemExit("Chromium not found (Debian: apt-get install chromium)")


def fetch_mermaid(cache: pathlib.Path) -> pathlib.Path:
    """mermaid.min.js from the npm package mermaid@11, kept in ``cache``."""
    target = cache / "mermaid.min.js"
    if target.exists():
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm not found: pass --mermaid path/to/mermaid.min.js")
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        packed = subprocess.run(  # noqa: S603 - npm, found on PATH
            [npm, "pack", "mermaid@11", "--silent"],
            cwd=tmp,
            check=True,
            capture_output=True,
            text=True,
            timeout=300,
        ).stdout.split()[-1]
        with tarfile.open(pathlib.Path(tmp) / packed) as archive:
            member = archive.extractfile("package/dist/mermaid.min.js")
            if member is None:
                raise SystemExit(f"{packed} has no dist/mermaid.min.js")
            target.write_bytes(member.read())
    return target


def build_site(into: pathlib.Path) -> None:
    """``mkdocs build --strict`` of this checkout into ``into`` (run from another directory)."""
    config = ROOT / "mkdocs.yml"
    command = [*find_mkdocs(), "build", "--strict", "-q", "-f", str(config), "-d", str(into)]
    subprocess.run(command, check=True, cwd=into.parent, timeout=600)  # noqa: S603


def prepare(site: pathlib.Path, mermaid: pathlib.Path) -> None:
    """Put mermaid and the probe on every page of the served copy, ahead of Material's JS."""
    shutil.copy(mermaid, site / "mermaid.min.js")
    head = '<script src="/mermaid.min.js"></script>'
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        text = text.replace("</head>", head + "</head>", 1)
        text = text.replace("</body>", PROBE + "</body>", 1)
        page.write_text(text, encoding="utf-8")


@contextlib.contextmanager
def serve(site: pathlib.Path) -> Iterator[str]:
    """Serve ``site`` on a free loopback port; yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/"
        finally:
            server.shutdown()
            thread.join(timeout=5)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def chromium(browser: str, profile: pathlib.Path, *args: str) -> subprocess.CompletedProcess[str]:
    """One headless Chromium run (fresh profile, no GPU, bounded in time)."""
    command = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        f"--user-data-dir={profile}",
        f"--window-size={WIDTH},{HEIGHT}",
        f"--virtual-time-budget={BUDGET_MS}",
        *args,
    ]
    return subprocess.run(  # noqa: S603 - Chromium, found on PATH
        command, capture_output=True, text=True, timeout=180, check=False
    )


def check_page(browser: str, base: str, page: str, out: pathlib.Path) -> dict[str, object]:
    """Screenshot one page and read the probe's findings from its DOM."""
    path, _, anchor = page.partition("#")
    url = base + path + (f"?shot={anchor}" if anchor else "")
    name = re.sub(r"[^A-Za-z0-9]+", "-", page).strip("-") or "index"
    png = out / f"{name}.png"
    with tempfile.TemporaryDirectory() as profile:
        chromium(browser, pathlib.Path(profile), f"--screenshot={png}", url)
    with tempfile.TemporaryDirectory() as profile:
        dom = chromium(browser, pathlib.Path(profile), "--dump-dom", url).stdout
    match = re.search(r'<script type="application/json" id="screenshot-probe">(.*?)</script>', dom)
    if match is None:
        return {"page": page, "png": str(png), "error": "the probe did not run"}
    found = json.loads(html.unescape(match[1]))
    if anchor and not found.get("focused"):
        found["error"] = f"no heading with id {anchor!r}"
    return {"page": page, "png": str(png), **found}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="*", default=list(DEFAULT_PAGES))
    parser.add_argument("--out", type=pathlib.Path, default=ROOT / "screenshots")
    parser.add_argument("--site", type=pathlib.Path, help="an already built site (copied)")
    parser.add_argument("--mermaid", type=pathlib.Path, help="mermaid.min.js to serve")
    parser.add_argument("--cache", type=pathlib.Path, default=ROOT / ".cache" / "docs-shots")
    options = parser.parse_args()

    browser = find_chromium()
    mermaid = options.mermaid or fetch_mermaid(options.cache)
    options.out.mkdir(parents=True, exist_ok=True)
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        site = pathlib.Path(tmp) / "site"
        if options.site:
            shutil.copytree(options.site, site)
        else:
            build_site(site)
        prepare(site, mermaid)
        with serve(site) as base:
            for page in options.pages:
                found = check_page(browser, base, page, options.out)
                overflow = found.get("overflow", [])
                bad = "error" in found or found.get("raw") or found.get("flat") or overflow
                failed = failed or bool(bad)
                print(
                    f"{'FAIL' if bad else 'ok  '} {page}: "
                    f"diagrams drawn={found.get('drawn')} raw={found.get('raw')} "
                    f"flat={found.get('flat')}; code blocks={found.get('blocks')} "
                    f"overflowing lines={len(overflow) if isinstance(overflow, list) else '?'} "
                    f"(narrowest block: {found.get('columns')} columns)"
                    f" -> {found['png']}"
                )
                for line in overflow if isinstance(overflow, list) else []:
                    print(f"       overflow: {line}")
                if "error" in found:
                    print(f"       {found['error']}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
