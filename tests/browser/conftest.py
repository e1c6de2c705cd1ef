"""A real headless Chromium (Debian's /usr/bin/chromium, never a downloaded build) driven by
Playwright for Python against pytest-django's ``live_server``.

Screenshots of the main pages go to ``test-output/screenshots/`` so that a person can look.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mrcfile
import numpy as np
import pytest
import tifffile

from tests.services import ROOT, require_service
from tests.support.browser import PART
from tests.support.catalogue import catalogue, s3_catalogue  # noqa: F401 - the same small catalogue

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


def _mrc(path: Path, shape: tuple[int, int], voxel: float) -> None:
    rng = np.random.default_rng(7)
    data = rng.normal(0, 1, shape).astype(np.float32)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    for cy, cx in rng.integers(20, min(shape) - 20, (12, 2)):
        data -= 3 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 60.0).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(data)
        mrc.voxel_size = voxel


def _tiff(path: Path) -> None:
    rng = np.random.default_rng(3)
    out = io.BytesIO()
    tifffile.imwrite(out, rng.poisson(2.0, (4, 128, 128)).astype(np.uint8), software="EPU 3.6")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(out.getvalue())


@pytest.fixture
def session_folder(tmp_path: Path) -> Path:
    """A session folder of three files; the first is larger than two upload parts."""
    root = tmp_path / "Session_042"
    _mrc(root / "Micrographs" / "big_0001.mrc", (1536, 2048), 0.83)  # ~12.6 MB: 3 parts
    _mrc(root / "Micrographs" / "mic_0002.mrc", (256, 256), 0.83)
    _tiff(root / "Movies" / "movie_0001.tiff")
    assert (root / "Micrographs" / "big_0001.mrc").stat().st_size > 2 * PART
    return root


@pytest.fixture
def upload_settings(settings: Any) -> Any:
    from metadata.registry import schema_load_builtins

    settings.OPENEM_UPLOAD_PART_SIZE = PART
    schema_load_builtins()  # a transactional test starts from an empty database
    return settings
