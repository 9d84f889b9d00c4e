"""Headless Chromium for the browser tests: Debian's package driven by Playwright's async API
(the tests run on pytest-asyncio's session loop, where Playwright's sync API refuses to run).
One browser for the session, a fresh context (cookies, storage) for each test.

Playwright's own browser builds are never downloaded (`playwright install` is not run): CI
installs `chromium` with apt (.ci/run). Without it the tests fail, saying so; they never skip."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Generator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, ViewportSize, async_playwright

CHROMIUM = Path(os.environ.get("STAX_CHROMIUM", "/usr/bin/chromium"))
# Playwright passes --headless, --no-sandbox and --disable-background-networking itself; they are
# named anyway, so the launch says what it relies on whatever Playwright's defaults become.
FLAGS = [
    "--headless=new",
    "--no-sandbox",  # the tests run as root (CI too), where Chromium's sandbox will not start
    "--disable-gpu",  # no GPU on these machines
    # Debian's launcher adds this when /dev/shm is small, but its check breaks (a shell error,
    # nothing added) where findmnt lists /dev/shm twice, as on these machines.
    "--disable-dev-shm-usage",
    "--disable-background-networking",  # no calls home: only the registries are reachable
]
SCREEN = ViewportSize(width=800, height=600)
TIMEOUT_MS = 10_000  # each action and navigation: Playwright's 30 s hides a hang for too long

DOCS_SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
FAILURE_SHOT = pytest.StashKey[Path]()
FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Marks a failed test for its `page` fixture, and names the screenshot it will take."""
    report = yield
    if report.when == "call" and report.failed and FAILURE_SHOT in item.stash:
        item.stash[FAILED] = True
        report.sections.append(("browser", f"the page at failure: {item.stash[FAILURE_SHOT]}"))
    return report


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"no Chromium at {CHROMIUM}: the browser tests need Debian's package "
            "(apt-get install chromium), or STAX_CHROMIUM=/path/to/chromium",
            pytrace=False,
        )
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        await launched.close()


@pytest.fixture
async def page(
    browser: Browser, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Page]:
    """A fresh English context on a small screen; if the test fails, a screenshot of the page as
    it was then goes to the test's tmp_path (the report names it)."""
    context = await browser.new_context(locale="en-GB", viewport=SCREEN)
    context.set_default_timeout(TIMEOUT_MS)
    opened = await context.new_page()
    request.node.stash[FAILURE_SHOT] = tmp_path / "failure.png"
    try:
        yield opened
    finally:
        if request.node.stash.get(FAILED, False):
            await opened.screenshot(path=request.node.stash[FAILURE_SHOT], full_page=True)
        await context.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where a test's screenshots go: docs/screenshots with STAX_SCREENSHOTS=1 (the committed
    ones, shown in the README), else the test's tmp_path."""
    if os.environ.get("STAX_SCREENSHOTS") == "1":
        DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
        return DOCS_SHOTS
    return tmp_path
