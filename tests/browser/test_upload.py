"""Facility staff upload a session folder from a real browser: straight to the S3 server in
presigned multipart parts (interrupted by a page reload and resumed without sending a part
twice), or in chunks to the portal on local storage; ingest then runs to "ready" with previews.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

import storage
from ingest.models import UploadSession
from openem_client.files import part_crc32
from repository.models import DataFile
from tests.support.browser import (
    PART,
    check_ingested,
    choose_folder,
    log_in,
    open_upload_session,
    screenshot,
    wait_for_js,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _wait_until(page: Any, condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        page.wait_for_timeout(200)


def _previews_shown(page: Any, dataset_url: str) -> None:
    page.goto(dataset_url)
    wait_for_js(
        page,
        "[...document.querySelectorAll('.gallery img')].length === 3 && "
        "[...document.querySelectorAll('.gallery img')].every(i => i.complete && i.naturalWidth > 0)",
    )


def test_upload_to_s3_interrupted_and_resumed(
    page: Any,
    world: Any,
    s3_storage: Any,
    live_server: Any,
    upload_settings: Any,
    session_folder: Path,
) -> None:
    store = storage.get_store()
    assert isinstance(store, storage.S3Store)
    store.configure_cors([live_server.url])
    page.on("dialog", lambda dialog: dialog.accept())  # "leave the page?" while uploading

    puts: list[tuple[str, str, int]] = []  # (phase, upload id, part number)
    checksums: dict[tuple[str, int], str] = {}  # (object path, part number) -> CRC32 header
    done_parts: list[tuple[str, int]] = []  # (upload id, part number) with a 200
    phase = {"name": "before reload"}

    def on_part(route: Any) -> None:
        query = parse_qs(urlparse(route.request.url).query)
        upload_id, number = query["uploadId"][0], int(query["partNumber"][0])
        if route.request.method == "PUT":
            puts.append((phase["name"], upload_id, number))
            checksums[(urlparse(route.request.url).path, number)] = route.request.headers.get(
                "x-amz-checksum-crc32", ""
            )
            if phase["name"] == "before reload" and number >= 2:
                route.abort("connectionreset")  # the network drops the big file's later parts
                return
        route.continue_()

    def on_response(response: Any) -> None:
        if response.request.method == "PUT" and "partNumber=" in response.url and response.ok:
            query = parse_qs(urlparse(response.url).query)
            done_parts.append((query["uploadId"][0], int(query["partNumber"][0])))

    page.route(re.compile(r".*[?&]partNumber=\d+.*"), on_part)
    page.on("response", on_response)

    log_in(page, "staff")
    session_id = open_upload_session(page, world, "Apoferritin grid 3 (browser upload)")
    choose_folder(page, session_folder)
    assert page.locator("#plan-summary").inner_text().startswith("3 files to upload")
    assert "Session_042/" in page.locator("#plan-summary").inner_text()
    page.click("#start-button")

    # The two small files finish; the big one gets its first part in, the others fail.
    page.wait_for_selector('#uploader[data-done="2"]')
    big_upload = lambda: {u for p, u, n in puts if n >= 2}  # noqa: E731
    _wait_until(page, lambda: any(u in big_upload() and n == 1 for u, n in done_parts), "part 1")
    page.wait_for_timeout(300)
    screenshot(page, "11-upload-interrupted")
    [upload_id] = big_upload()

    # Interrupt: reload the page. The server knows what arrived.
    phase["name"] = "after reload"
    page.reload()
    hint = page.locator("[data-resume-hint]").inner_text()
    assert "3 files are registered in this session and 1 still waits for its bytes" in hint
    choose_folder(page, session_folder)
    page.click("#start-button")
    page.wait_for_selector("[data-ingest-ready]", timeout=90_000)
    assert page.locator("[data-resume-hint]").count() == 0  # no stale "1 still waits"
    screenshot(page, "12-upload-done-ingest-ready")

    resumed = [(u, n) for p, u, n in puts if p == "after reload"]
    # Only the big file's missing parts were sent again (a failed attempt may be retried),
    # never its first part, which S3 already held, nor the files already stored.
    assert set(resumed) == {(upload_id, 2), (upload_id, 3)}, resumed
    assert page.locator('[data-tally="done"] .badge').inner_text() == "3"
    assert page.js_errors == []
    check_ingested(session_id, session_folder)
    # Every part went with its CRC32 (computed in the browser), the value S3 checks it against.
    expected = {}
    for datafile in DataFile.objects.filter(upload_session_id=session_id):
        data = (session_folder / datafile.path).read_bytes()
        for number, start in enumerate(range(0, len(data), PART), 1):
            key = (f"/{store.bucket}/{datafile.storage_key}", number)
            expected[key] = part_crc32(data[start : start + PART])
    assert checksums == expected
    dataset = UploadSession.objects.get(pk=session_id).dataset
    _previews_shown(page, dataset.get_absolute_url())
    screenshot(page, "13-landing-after-upload")


def test_upload_to_local_storage_with_clear_messages_and_resume(
    page: Any,
    world: Any,
    local_storage: Any,
    live_server: Any,
    upload_settings: Any,
    session_folder: Path,
) -> None:
    (session_folder / "Movies" / "empty_0002.tiff").write_bytes(b"")  # zero bytes
    (session_folder / ".DS_Store").write_bytes(b"\x00\x01")
    page.on("dialog", lambda dialog: dialog.accept())
    chunks: list[tuple[str, int]] = []  # (phase, first byte) of every chunk sent
    phase = {"name": "before reload"}

    def on_chunk(route: Any) -> None:
        if route.request.method != "PUT":
            route.continue_()
            return
        start = int(route.request.headers["content-range"].split()[1].split("-")[0])
        chunks.append((phase["name"], start))
        if phase["name"] == "before reload" and start > 0:
            route.abort("connectionreset")  # the connection drops after the first chunk
            return
        route.continue_()

    page.route(re.compile(r".*/api/v1/uploads/\d+/files/\d+/content$"), on_chunk)
    log_in(page, "curator")
    session_id = open_upload_session(page, world, "Apoferritin grid 4 (local chunks)")
    choose_folder(page, session_folder)
    # names the browser can hold but the portal must refuse, added as a script would
    page.evaluate(
        """() => {
        const uppy = window.openemUploader.uppy
        const add = (name, relativePath, text) => uppy.addFile({
          name, type: 'text/plain', data: new File([text], name), meta: { relativePath } })
        add('passwd', 'Session_042/../../etc/passwd', 'root:x:0:0')
        add('mic_0002.mrc', 'Session_042/Micrographs/mic_0002.mrc', 'another file, same path')
        add('bad\\u0007name.txt', 'Session_042/bad\\u0007name.txt', 'bell')
    }"""
    )
    wait_for_js(page, "document.querySelectorAll('#problem-list li').length === 4")
    assert page.locator("#plan-summary").inner_text().startswith("4 files to upload")
    page.click("#start-button")
    page.wait_for_selector('#problem-list li[data-kind="refused"]')
    problems = {
        item.get_attribute("data-kind"): item.inner_text()
        for item in page.locator("#problem-list li").all()
    }
    assert "empty (0 bytes)" in problems["empty"]
    assert "the same path was chosen twice" in problems["duplicate"]
    assert "leaves the session folder" in problems["unsafe"]
    assert "operating system" in problems["skipped"]
    assert "control characters" in problems["refused"]  # refused by the server
    page.wait_for_selector('#uploader[data-done="2"]')
    _wait_until(page, lambda: ("before reload", PART) in chunks, "the big file's second chunk")
    screenshot(page, "14-upload-local-problems")

    phase["name"] = "after reload"
    page.reload()
    assert "1 still waits for its bytes" in page.locator("[data-resume-hint]").inner_text()
    choose_folder(page, session_folder)
    page.click("#start-button")
    page.wait_for_selector("[data-ingest-ready]", timeout=90_000)
    assert page.locator("[data-resume-hint]").count() == 0  # no stale "1 still waits"
    resumed = sorted(start for name, start in chunks if name == "after reload")
    assert resumed and resumed[0] == PART, resumed  # continued where the server stopped
    check_ingested(session_id, session_folder)
