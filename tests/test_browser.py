"""The built book as a reader sees it: every page opened in headless Chromium, offline.

A static check of the HTML cannot tell whether MathJax typeset the equations, whether an image
decodes or whether a script throws; a browser can. The book is served from a localhost HTTP
server (as GitHub Pages serves it, not file://) to a Debian `chromium` driven by
`chromium-driver` through selenium, which can reach no other host, so anything the book loads
from elsewhere (a CDN's MathJax, say) shows up as an error here.

Each page is visited once (the module's `crawl` fixture); the tests then check what was seen:
the page loaded with no JavaScript error (SEVERE browser log entries, which include resources
that failed to load), every `<img>` decoded, every equation typeset (the paper page has some),
every same-origin link resolves. The totals are printed (run with `-s` to see them).
Skipped where `chromium` or `chromedriver` is not installed (`apt-get install chromium
chromium-driver` on Debian).
"""

from __future__ import annotations

import functools
import http.server
import shutil
import sys
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
# No background traffic, no state from another profile, and no host but localhost resolves
# (even where the machine is online, as CI is): what a page shows comes from the book alone.
CHROMIUM_FLAGS = [
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1024",
]
PAPER_PAGE = "paper.html"
# GitHub Pages serves a project's book under /<repository>/, not at the root: served the same
# way here, a link that only works at the root (href="/...") fails.
SITE_PATH = "/rouser/"
# The browser asks every origin for /favicon.ico on its own; the book declares no icon, so that
# request's 404 says nothing about the book.
FAVICON = "/favicon.ico"

# Resolves when every image has loaded (lazy ones forced to load) with what each one decoded to.
IMAGES_JS = """
const done = arguments[arguments.length - 1];
Promise.all([...document.images].map(img => {
  img.loading = "eager";
  return img.decode().then(() => [img.currentSrc || img.src, img.naturalWidth],
                           () => [img.currentSrc || img.src, img.naturalWidth]);
})).then(done);
"""
# Inline SVG figures in the page's content: icons, buttons and MathJax's own glyphs excluded.
SVG_FIGURES_JS = """
return [...document.querySelectorAll("article svg")].filter(svg =>
  !svg.closest("mjx-container, button, a.headerlink, .admonition-title")
  && svg.getBoundingClientRect().width >= 50
).map(svg => [svg.id || svg.getAttribute("class") || "svg",
              svg.getBoundingClientRect().width * svg.getBoundingClientRect().height]);
"""
# Resolves once MathJax (if the page loads it) has typeset, with [equations, typeset ones].
MATH_JS = """
const done = arguments[arguments.length - 1];
const count = () => {
  const math = [...document.querySelectorAll("span.math, div.math")];
  return [math.length, math.filter(m => m.querySelector("mjx-container")).length,
          document.querySelectorAll("mjx-merror").length];
};
if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
  MathJax.startup.promise.then(() => done(count()), () => done(count()));
} else {
  done(count());
}
"""


@dataclass
class Page:
    """What the browser saw on one page of the book."""

    name: str
    status: int
    ready: bool
    errors: list[str]
    images: list[tuple[str, int]]
    svg_figures: list[tuple[str, float]]
    equations: int
    typeset: int
    math_errors: int
    links: set[str]


@dataclass
class Crawl:
    """Every page of the book, and the status of every internal link they hold."""

    pages: list[Page]
    links: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        """One line with the totals the closing note of a book change reports."""
        images = sum(len(page.images) for page in self.pages)
        distinct = len({source for page in self.pages for source, _ in page.images})
        svgs = sum(len(page.svg_figures) for page in self.pages)
        equations = sum(page.typeset for page in self.pages)
        paper = next((page.typeset for page in self.pages if page.name == PAPER_PAGE), 0)
        return (
            f"browser: {len(self.pages)} pages, {images + svgs} images ({images} <img> of "
            f"{distinct} distinct files, {svgs} inline SVG), {equations} typeset equations "
            f"({paper} on {PAPER_PAGE}), {len(self.links)} internal links checked"
        )


def book_pages(html: Path) -> list[str]:
    """The book's pages: every HTML file but the theme's templates and assets (`_static`...)."""
    return sorted(
        path.relative_to(html).as_posix()
        for path in html.rglob("*.html")
        if not any(part.startswith("_") for part in path.relative_to(html).parts[:-1])
    )


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the book under `SITE_PATH` (404 elsewhere), without a log line per request."""

    def translate_path(self, path: str) -> str:
        """The book's file for a path under `SITE_PATH`; a file that cannot exist otherwise."""
        if not path.startswith(SITE_PATH):
            return str(Path(self.directory) / "_not_in_the_site" / "_")
        return super().translate_path("/" + path.removeprefix(SITE_PATH))

    def log_message(self, format: str, *args: object) -> None:
        """Requests are checked by the tests, not logged."""


class _BookServer(http.server.ThreadingHTTPServer):
    """A local web server that does not print the connections the browser drops."""

    def handle_error(self, request: object, client_address: tuple[str, int]) -> None:
        """A page left before its fonts or images arrived closes the socket: not a failure."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@pytest.fixture(scope="module")
def server(built_book: Path) -> Iterator[str]:
    """The built book's URL on a free localhost port, served as GitHub Pages serves it."""
    handler = functools.partial(_QuietHandler, directory=str(built_book))
    httpd = _BookServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}{SITE_PATH}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    """Headless Debian chromium with a fresh profile, its console log kept for the tests."""
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip(
            "no headless browser: `chromium` and `chromedriver` must be on PATH "
            "(Debian: apt-get install chromium chromium-driver)"
        )
    with tempfile.TemporaryDirectory(prefix="rouser-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]:
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
        driver.set_page_load_timeout(60)
        driver.set_script_timeout(60)
        try:
            yield driver
        finally:
            driver.quit()


def visit(driver: webdriver.Chrome, site: str, name: str) -> Page:
    """Open one page and record what a reader would see of it."""
    url = urllib.parse.urljoin(site, name)
    origin = urllib.parse.urljoin(site, "/")
    driver.get_log("browser")  # drop what an earlier page left in the log
    driver.get(url)
    images = [tuple(image) for image in driver.execute_async_script(IMAGES_JS)]
    equations, typeset, math_errors = driver.execute_async_script(MATH_JS)
    svg_figures = [tuple(svg) for svg in driver.execute_script(SVG_FIGURES_JS)]
    hrefs = driver.execute_script("return [...document.links].map(a => a.href);")
    links = {
        urllib.parse.urldefrag(href).url
        for href in hrefs
        if href.startswith(origin) and urllib.parse.urldefrag(href).url
    }
    return Page(
        name=name,
        status=_status(url),
        ready=driver.execute_script("return document.readyState;") == "complete",
        errors=[
            entry["message"]
            for entry in driver.get_log("browser")
            if entry["level"] == "SEVERE"
            and not entry["message"].startswith(urllib.parse.urljoin(site, FAVICON))
        ],
        images=images,
        svg_figures=svg_figures,
        equations=equations,
        typeset=typeset,
        math_errors=math_errors,
        links=links,
    )


@pytest.fixture(scope="module")
def crawl(built_book: Path, server: str, browser: webdriver.Chrome) -> Crawl:
    """Every page visited once; every internal link any of them holds fetched once."""
    result = Crawl([visit(browser, server, name) for name in book_pages(built_book)])
    targets = sorted(set().union(*(page.links for page in result.pages)))
    result.links = {url: _status(url) for url in targets}
    print(f"\n{result.summary()}")
    return result


def _report(problems: dict[str, list[str]]) -> str:
    """One line per problem, grouped by where it is (pytest would truncate a dict's repr)."""
    return "\n".join(
        f"{where}: {problem}" for where, found in problems.items() for problem in found
    )


def test_the_book_has_pages(crawl: Crawl) -> None:
    assert PAPER_PAGE in [page.name for page in crawl.pages]
    assert "index.html" in [page.name for page in crawl.pages]


def test_every_page_loads_without_javascript_errors(crawl: Crawl) -> None:
    broken = {
        page.name: page.errors or [f"HTTP {page.status}, readyState complete: {page.ready}"]
        for page in crawl.pages
        if page.errors or page.status != 200 or not page.ready
    }
    assert not broken, _report(broken)


def test_every_image_has_decoded(crawl: Crawl) -> None:
    blank = {
        page.name: [f"{source} did not decode" for source, width in page.images if width <= 0]
        + [f"inline SVG {name} is empty" for name, area in page.svg_figures if area <= 0]
        for page in crawl.pages
    }
    assert not any(blank.values()), _report(blank)


def test_equations_are_typeset(crawl: Crawl) -> None:
    """MathJax, served from the book, typeset every equation; the paper page has some."""
    paper = next(page for page in crawl.pages if page.name == PAPER_PAGE)
    assert paper.equations > 0, f"{PAPER_PAGE} has no equation"
    raw = {
        page.name: [f"{page.typeset} of {page.equations} typeset, {page.math_errors} errors"]
        for page in crawl.pages
        if page.typeset < page.equations or page.math_errors
    }
    assert not raw, _report(raw)


def test_every_internal_link_resolves(crawl: Crawl) -> None:
    broken = {
        page.name: [
            f"{url} -> HTTP {crawl.links[url]}"
            for url in sorted(page.links)
            if crawl.links[url] != 200
        ]
        for page in crawl.pages
        if any(crawl.links[url] != 200 for url in page.links)
    }
    assert crawl.links, "no internal link found"
    assert not broken, _report(broken)
