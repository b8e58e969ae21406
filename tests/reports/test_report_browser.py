"""The HTML report in a real headless Chromium (Debian's chromium, driven by Playwright): no
console errors, no request leaving the file, every table and image present, no horizontal page
overflow on a 1366x768 laptop screen. A full-page screenshot is kept as a test artifact in
``$DURIAN_TEST_ARTIFACTS`` (default ``tests/artifacts/``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from reports_fixtures import write_standard

from reports import figures
from reports.build import build
from reports.tables import TABLES

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1366, "height": 768}
REPO = Path(__file__).resolve().parents[2]


MISSING = (f"{CHROMIUM} is missing: the browser test needs Debian's chromium package "
           "(apt-get install chromium; `make test` installs it)")


def artifacts() -> Path:
    folder = Path(os.environ.get("DURIAN_TEST_ARTIFACTS", REPO / "tests" / "artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("browser") / "results" / "test"
    write_standard(root)
    return build(root, scope="all", report_name="report.html", n_boot=100)["report"]


@pytest.fixture(scope="module")
def page_in_chromium(report, tmp_path_factory):
    """(page, problems): the report loaded in Chromium; problems collects console errors, page
    errors, failed requests and any request that is not file: or data:."""
    assert CHROMIUM.is_file(), MISSING
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=str(CHROMIUM), headless=True,
            args=FLAGS, viewport=VIEWPORT, offline=True)
        try:
            page = context.new_page()
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} {r.failure}"))
            page.on("request", lambda r: None if r.url.startswith(("file:", "data:"))
                    else problems.append(f"request leaves the file: {r.url}"))
            page.goto(report.as_uri(), wait_until="load")
            page.wait_for_function("Array.from(document.images).every(i => i.complete)")
            yield page, problems
        finally:
            context.close()


def test_chromium_is_installed():
    """Fails (never skips) without the browser, so a missing chromium cannot pass unnoticed."""
    assert CHROMIUM.is_file(), MISSING


def test_no_console_errors_and_no_requests_outside_the_file(page_in_chromium):
    page, problems = page_in_chromium
    assert page.title().startswith("Durian reproduction report")
    assert problems == []


def test_every_table_and_the_summary_and_provenance(page_in_chromium):
    page, _ = page_in_chromium
    for name in [*TABLES, "summary-table", "provenance"]:
        table = page.locator(f"table#{name}")
        assert table.count() == 1, name
        assert table.locator("tbody tr").count() > 0, name
    cells = page.locator("#summary-table td.cell")
    assert cells.count() == 4 * 6  # four Durian arms (table1 + fig3) x six benchmarks
    assert page.locator("#summary-table td.cell.inconclusive").count() + page.locator(
        "#summary-table td.cell.win").count() + page.locator("#summary-table td.cell.loss").count() == 24


def test_every_image_is_decoded(page_in_chromium):
    page, _ = page_in_chromium
    images = page.evaluate("Array.from(document.images).map(i => [i.alt, i.naturalWidth, i.naturalHeight])")
    assert len(images) == len(figures.FIGURES)
    assert {alt for alt, _, _ in images} == set(figures.TITLES.values())
    assert all(width > 300 and height > 150 for _, width, height in images), images


def test_fits_a_laptop_screen_and_keeps_a_screenshot(page_in_chromium):
    page, _ = page_in_chromium
    scroll_width, inner_width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll_width <= inner_width, "the page scrolls sideways at 1366 px"
    # images never overflow their container; wide tables scroll inside theirs
    overflowing = page.evaluate(
        "Array.from(document.querySelectorAll('img, .scroll')).filter(e => e.getBoundingClientRect().right > "
        "document.querySelector('main').getBoundingClientRect().right + 1).length")
    assert overflowing == 0
    font = page.evaluate("getComputedStyle(document.body).fontSize")
    assert float(font.removesuffix("px")) >= 14
    path = artifacts() / "report.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
