"""Browser tests: Playwright driving Debian's Chromium (/usr/bin/chromium, installed by `make test` through
bin/ensure-chromium; never a downloaded browser) against pytest-django's live server."""

import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots"  # git-ignored
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

# Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} is missing: run bin/ensure-chromium (make test does)"
        if os.environ.get("REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Console:
    """Collects console errors and uncaught page errors, so each page can be checked to have none."""

    def __init__(self, page):
        self.errors: list[str] = []
        page.on("console", lambda msg: self.errors.append(f"console: {msg.text} ({msg.location.get('url')})")
                if msg.type == "error" else None)
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))

    def assert_clean(self, where: str):
        errors, self.errors = self.errors, []
        assert errors == [], f"console errors on {where}: {errors}"


def overflowing(page) -> list[str]:
    """What sticks out of the viewport on the right, not counting what a scrolling box (a wide table) clips:
    empty when the page fits the screen."""
    return page.evaluate("""() => {
      const clipped = el => {
        for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
          if (getComputedStyle(p).overflowX !== 'visible') return true;
        }
        return false;
      };
      const out = [];
      for (const el of document.querySelectorAll('body *')) {
        if (el.closest('.skip-link')) continue;
        const r = el.getBoundingClientRect();
        if (r.width && r.right > window.innerWidth + 1 && !clipped(el))
          out.push(el.tagName + '.' + el.className + ' ' + Math.round(r.right));
      }
      if (document.documentElement.scrollWidth > window.innerWidth) out.push('page ' + document.documentElement.scrollWidth);
      return out.slice(0, 10);
    }""")


@pytest.fixture
def new_page(browser, live_server):
    """new_page(viewport) -> (page, console) in a fresh context (own cookies) on the live server."""
    contexts = []

    def make(viewport=DESKTOP):
        context = browser.new_context(viewport=viewport, base_url=live_server.url)
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        return page, Console(page)

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def shoot():
    SCREENSHOTS.mkdir(exist_ok=True)

    def save(page, name: str):
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    save.folder = SCREENSHOTS
    return save
