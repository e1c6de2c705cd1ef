"""What the browser tests do with a Playwright page: log in, wait for a JavaScript condition
(the portal's CSP refuses Playwright's eval-based wait), and save a screenshot to
``test-output/screenshots/`` for a person to look at."""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path
from typing import Any

from ingest.models import UploadSession
from repository.models import DataFile, DatasetStatus, FileState
from tests.services import ROOT
from tests.support.catalogue import catalogue, s3_catalogue  # noqa: F401 - the same small catalogue

SCREENSHOTS = ROOT / "test-output" / "screenshots"


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

    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout:.0f} s: {expression}")
        page.wait_for_timeout(100)


def open_upload_session(page: Any, world: Any, title: str) -> int:
    page.goto("/upload/")
    page.select_option("select[name=facility]", str(world.facility.pk))
    page.select_option("select[name=instrument]", str(world.instrument.pk))
    page.select_option("select[name=technique]", "spa")
    page.fill("input[name=title]", title)
    page.fill("textarea[name=description]", "Apoferritin grid 3, uploaded from the browser test.")
    page.fill("input[name=keywords]", "apoferritin, browser test")
    screenshot(page, "10-new-session")
    page.click("form[data-new-session] button[type=submit]")
    page.wait_for_url(re.compile(r"/upload/\d+/$"))
    return int(page.url.rstrip("/").rsplit("/", 1)[1])


def choose_folder(page: Any, folder: Path) -> None:
    page.set_input_files("#folder-input", str(folder))
    page.wait_for_selector("#plan:not([hidden])")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_ingested(session_id: int, folder: Path) -> None:
    session = UploadSession.objects.get(pk=session_id)
    files = {f.path: f for f in DataFile.objects.filter(upload_session=session)}
    assert sorted(files) == [
        "Micrographs/big_0001.mrc",
        "Micrographs/mic_0002.mrc",
        "Movies/movie_0001.tiff",
    ]
    for path, datafile in files.items():
        assert datafile.state == FileState.READY, (path, datafile.error)
        assert datafile.checksum_sha256 == _sha256(folder / path)
        assert datafile.thumbnail_key, path
    assert session.dataset.status == DatasetStatus.READY
    assert session.state == "completed"


PART = 5 * 1024 * 1024
