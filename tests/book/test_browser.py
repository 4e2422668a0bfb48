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

It is also read as a reader reads it, at a desktop width (1,400 px) and a phone's (420 px):
one search field per page, no launch button that cannot work, the commit and build date in
every footer, table cells whose texts keep apart, figures shown at least as wide as the
figure-text check assumes (`tests/report/test_figure_text.py`), and, on the phone, no content cut
off at the window's edge (a wide table scrolls inside its own box, a long name breaks).
Skipped where `chromium` or `chromedriver` is not installed (`apt-get install chromium
chromium-driver` on Debian).
"""

from __future__ import annotations

import functools
import http.server
import re
import shutil
import subprocess
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

from rouser.report.style import BOOK_CONTENT_PX

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
# No background traffic, no state from another profile, and no host but localhost resolves
# (even where the machine is online, as CI is): what a page shows comes from the book alone.
DESKTOP, PHONE = (1400, 1000), (420, 900)  # the widths a reader reads the book at
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
    f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
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

# The reader's view at the current window size: the article's width, the search fields a
# reader sees in the page's frame (header and sidebars: the closed search dialog's field is
# not on screen, the search page's own form is its content), launch links, the footer's
# build stamp, figures shown smaller than their natural size, and neighbouring table cells
# whose texts are closer than MIN_CELL_GAP_PX (their boxes touch: "92.33 ± 3.0698.89").
LAYOUT_JS = r"""
const gap = arguments[0];
const CHROME = ".bd-header, .bd-sidebar-primary, .bd-header-article, .bd-sidebar-secondary";
const article = document.querySelector("article.bd-article");
const seen = el => {
  const box = el.getBoundingClientRect(), style = getComputedStyle(el);
  return box.width > 0 && box.height > 0 && style.visibility !== "hidden"
    && !el.closest("dialog:not([open])");
};
const textBox = cell => {
  const range = document.createRange();
  range.selectNodeContents(cell);
  const rects = [...range.getClientRects()].filter(r => r.width > 0);
  if (!rects.length) return null;
  return [Math.min(...rects.map(r => r.left)), Math.max(...rects.map(r => r.right))];
};
const touching = [];
for (const row of article ? article.querySelectorAll("tr") : []) {
  const cells = [...row.children].filter(seen);
  for (let i = 0; i + 1 < cells.length; i++) {
    const a = textBox(cells[i]), b = textBox(cells[i + 1]);
    if (a && b && b[0] - a[1] < gap) {
      touching.push(`${cells[i].textContent.trim()} | ${cells[i + 1].textContent.trim()}`);
    }
  }
}
const figures = [...(article ? article.querySelectorAll("img") : [])]
  .filter(img => /\.svg$/.test(new URL(img.currentSrc || img.src).pathname))
  .map(img => [img.getAttribute("src"), img.naturalWidth, img.getBoundingClientRect().width]);
return {
  content: article ? article.getBoundingClientRect().width : 0,
  searches: [...document.querySelectorAll("input[type=search], .search-button-field")]
    .filter(el => seen(el) && el.closest(CHROME)).length,
  launch: [...document.querySelectorAll("a[href]")].map(a => a.href)
    .filter(href => /mybinder|colab\.research|jupyterhub|deepnote/.test(href)),
  stamp: [...document.querySelectorAll(".build-stamp")].map(p => p.textContent.trim()),
  touching: touching,
  figures: figures,
};
"""
# On a phone: what of the article reaches past the window's right edge without a box of its
# own that scrolls sideways (overflow-x auto or scroll) and itself fits the window: cut off
# (a wide table, a long unbroken name). The outermost such element is named. The theme's
# off-canvas sidebars are outside the article and not counted.
CUT_OFF_JS = """
const width = window.innerWidth;
const scrolled = el => {
  for (let box = el; box && box.tagName !== "ARTICLE"; box = box.parentElement) {
    if (["auto", "scroll"].includes(getComputedStyle(box).overflowX)) {
      return box.getBoundingClientRect().right <= width + 1;
    }
  }
  return false;
};
// MathJax's assistive copy of an equation is off screen by design; a heading's "#" anchor
// shows only on hover
const hidden = el => el.closest("mjx-assistive-mml, a.headerlink");
const past = el => el.getBoundingClientRect().right > width + 1 && !scrolled(el) && !hidden(el);
const cut = [...document.querySelectorAll("article *")]
  .filter(el => past(el) && !(el.parentElement && past(el.parentElement)))
  .map(el => `${el.tagName.toLowerCase()} ${(el.textContent || "").trim().slice(0, 60)}`);
return {width: width, cut: cut};
"""
MIN_CELL_GAP_PX = 6
# "Built 2026-12-03 09:41 UTC from commit abc1234" (book/_ext/build_stamp.py)
STAMP = re.compile(r"Built \d{4}-\d\d-\d\d \d\d:\d\d UTC from commit ([0-9a-f]{7,40})")


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
    layout: dict = field(default_factory=dict)
    phone: dict = field(default_factory=dict)


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
    layout = driver.execute_script(LAYOUT_JS, MIN_CELL_GAP_PX)
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
        layout=layout,
    )


def visit_on_a_phone(driver: webdriver.Chrome, site: str, page: Page) -> None:
    """Open the page at a phone's width and record which tables are cut off."""
    driver.set_window_size(*PHONE)
    try:
        driver.get(urllib.parse.urljoin(site, page.name))
        page.phone = driver.execute_script(CUT_OFF_JS)
    finally:
        driver.set_window_size(*DESKTOP)


@pytest.fixture(scope="module")
def crawl(built_book: Path, server: str, browser: webdriver.Chrome) -> Crawl:
    """Every page visited once; every internal link any of them holds fetched once."""
    result = Crawl([visit(browser, server, name) for name in book_pages(built_book)])
    for page in result.pages:
        visit_on_a_phone(browser, server, page)
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


def test_the_desktop_window_is_the_one_the_book_is_read_at(crawl: Crawl) -> None:
    """The layout checks below read a 1,400 px wide page (headless chromium's window is its
    viewport), whose article is at least as wide as the figure-text check assumes."""
    index = next(page for page in crawl.pages if page.name == "index.html")
    assert index.layout["content"] >= BOOK_CONTENT_PX, index.layout["content"]


def test_one_search_field_per_page(crawl: Crawl) -> None:
    """pydata-sphinx-theme 0.17 adds a header search bar above sphinx-book-theme's own."""
    wrong = {
        page.name: [f"{page.layout['searches']} search fields on screen"]
        for page in crawl.pages
        if page.layout["searches"] != 1
    }
    assert not wrong, _report(wrong)


def test_no_launch_buttons(crawl: Crawl) -> None:
    """Binder and Colab cannot run the result notebooks (no `rouser`, no records/)."""
    found = {page.name: page.layout["launch"] for page in crawl.pages if page.layout["launch"]}
    assert not found, _report(found)


def test_every_footer_names_its_commit_and_build_date(crawl: Crawl) -> None:
    commits = set()
    missing = {}
    for page in crawl.pages:
        stamps = [STAMP.search(text) for text in page.layout["stamp"]]
        if len(stamps) != 1 or stamps[0] is None:
            missing[page.name] = [f"build stamp: {page.layout['stamp']}"]
        else:
            commits.add(stamps[0].group(1))
    assert not missing, _report(missing)
    assert len(commits) == 1, commits  # one build, one commit
    known = subprocess.run(
        ["git", "cat-file", "-e", f"{commits.pop()}^{{commit}}"], cwd=Path(__file__).parents[2]
    )
    assert known.returncode == 0, "the stamped commit is not in this repository"


def test_table_cells_keep_their_texts_apart(crawl: Crawl) -> None:
    """Neighbouring cells' texts at least MIN_CELL_GAP_PX apart ("snntorch | baseline")."""
    touching = {page.name: page.layout["touching"] for page in crawl.pages}
    assert any(page.layout["figures"] for page in crawl.pages)  # result pages were read
    assert not any(touching.values()), _report(touching)


def test_figures_are_shown_as_wide_as_the_text_check_assumes(crawl: Crawl) -> None:
    """A figure shrinks to the article's width; `tests/report/test_figure_text.py` sizes its text for
    `BOOK_CONTENT_PX`, so a figure must never be shown narrower than that (or than itself)."""
    narrow = {
        page.name: [
            f"{source}: {shown:.0f} px of {natural} px"
            for source, natural, shown in page.layout["figures"]
            if shown + 1 < min(natural, BOOK_CONTENT_PX)
        ]
        for page in crawl.pages
    }
    assert sum(len(page.layout["figures"]) for page in crawl.pages) >= 7
    assert not any(narrow.values()), _report(narrow)


def test_nothing_is_cut_off_on_a_phone(crawl: Crawl) -> None:
    """At 420 px a wide table scrolls inside its own box and a long name breaks; nothing of
    a page's content runs past the window's edge."""
    cut = {page.name: [f"cut off: {what}" for what in page.phone["cut"]] for page in crawl.pages}
    assert all(page.phone["width"] == PHONE[0] for page in crawl.pages)
    assert not any(cut.values()), _report(cut)
