"""A real headless Chromium (Debian's /usr/bin/chromium, never a downloaded build) driven by
Playwright for Python against pytest-django's ``live_server``.

Screenshots of the main pages go to ``test-output/screenshots/`` so that a person can look.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.services import ROOT, require_service
from tests.web.conftest import catalogue, s3_catalogue  # noqa: F401 - the same small catalogue

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = ROOT / "test-output" / "screenshots"
VENDOR = ROOT / "static" / "vendor"
ASSETS = ("uploader.js", "htmx.min.js", "redoc/bundles/redoc.standalone.js")


def _assets_built() -> bool:
    return all((VENDOR / name).is_file() for name in ASSETS)


@pytest.fixture(scope="session")
def front_end_assets() -> Path:
    """The bundled uploader, htmx and ReDoc (``make assets``); built here from node_modules and
    the installed sidecar if that was installed but not built (no network needed)."""
    if not _assets_built() and (ROOT / "node_modules").is_dir() and shutil.which("npm"):
        subprocess.run(["npm", "run", "--silent", "build"], cwd=ROOT, check=True)  # noqa: S607
        subprocess.run([sys.executable, "-m", "openem.assets"], cwd=ROOT, check=True)  # noqa: S603
    if not _assets_built():
        require_service("the front-end assets: run `make assets` (npm ci && npm run build)")
    return VENDOR


@pytest.fixture(scope="session")
def browser(front_end_assets: Path) -> Iterator[Any]:
    if not Path(CHROMIUM).is_file():
        require_service(
            f"Debian's chromium at {CHROMIUM} (apt-get install chromium chromium-driver)"
        )
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are
    # still synchronous code, so Django's async-safety check must not stop them.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True
        )
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Any, live_server: Any) -> Iterator[Any]:
    context = browser.new_context(
        viewport={"width": 1366, "height": 900}, accept_downloads=True, base_url=live_server.url
    )
    context.set_default_timeout(45_000)  # a shared CI machine can be slow
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.js_errors = errors  # type: ignore[attr-defined]
    # Every page a browser test visits must work under the portal's Content-Security-Policy:
    # a violation (a blocked script, style, image, fetch or frame) fails the test.
    violations: list[str] = []
    tab.expose_function("__reportCspViolation", lambda text: violations.append(text))
    tab.add_init_script(CSP_LISTENER)
    tab.csp_violations = violations  # type: ignore[attr-defined]
    yield tab
    context.close()
    assert not violations, f"Content-Security-Policy violations: {violations}"


CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__reportCspViolation(
    `${event.effectiveDirective} blocked ${event.blockedURI || "inline"} on ${event.documentURI}`
  );
});
"""


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def log_in(page: Any, username: str, password: str = "correct horse battery") -> None:
    page.goto("/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form button[type=submit]")
    page.wait_for_load_state()
    assert page.locator(".account .who").count() == 1, "login failed"


def wait_for_js(page: Any, expression: str, timeout: float = 45.0) -> None:
    """Wait until ``expression`` is true in the page. Playwright's ``wait_for_function``
    evaluates its predicate with ``eval`` inside the page, which the portal's CSP refuses
    (no 'unsafe-eval'); ``evaluate`` goes through the DevTools protocol, which the CSP does
    not govern."""
    import time

    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout:.0f} s: {expression}")
        page.wait_for_timeout(100)
