"""A part damaged between the browser and S3 (the fault proxy flips a byte of its body) is
refused by S3 (BadDigest: the body differs from the CRC32 signed into its URL); the browser
uploader signs and sends it again, and the upload finishes with the right bytes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import storage
from bench.faultproxy import FaultProxy
from tests.support.browser import (
    check_ingested,
    choose_folder,
    log_in,
    open_upload_session,
    screenshot,
)

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def damaging_proxy(s3_storage: Any, settings: Any) -> Iterator[FaultProxy]:
    """The browser reaches S3 through the proxy (the URLs the portal presigns name it)."""
    proxy = FaultProxy(s3_storage.endpoint_url).start()
    settings.OPENEM_STORAGE = {**settings.OPENEM_STORAGE, "public_endpoint_url": proxy.endpoint_url}
    storage.reset_store_cache()
    yield proxy
    proxy.stop()
    storage.reset_store_cache()


def test_a_part_damaged_on_the_way_is_sent_again_and_the_upload_finishes(
    page: Any,
    world: Any,
    damaging_proxy: FaultProxy,
    live_server: Any,
    upload_settings: Any,
    session_folder: Path,
) -> None:
    store = storage.get_store()
    assert isinstance(store, storage.S3Store)
    store.configure_cors([live_server.url])
    refused: list[tuple[int, str]] = []

    def on_response(response: Any) -> None:
        if response.request.method == "PUT" and "partNumber=" in response.url and not response.ok:
            try:
                body = response.text()
            except Exception:  # noqa: BLE001 - the inspector may have dropped the body already
                body = "(body not kept)"
            refused.append((response.status, body))

    page.on("response", on_response)
    damaging_proxy.damage_parts(1)

    log_in(page, "staff")
    session_id = open_upload_session(page, world, "Apoferritin grid 3 (a damaged part)")
    choose_folder(page, session_folder)
    page.click("#start-button")
    page.wait_for_selector("[data-ingest-ready]", timeout=90_000)
    screenshot(page, "14-upload-damaged-part-done")

    assert [fault.damage for _m, _p, fault in damaging_proxy.applied] == [True]
    assert [status for status, _body in refused] == [400], refused  # S3's BadDigest
    assert all("BadDigest" in body for _s, body in refused if body != "(body not kept)"), refused
    assert page.locator('[data-tally="done"] .badge').inner_text() == "3"
    assert page.js_errors == []
    check_ingested(session_id, session_folder)  # the bytes S3 holds are the file's bytes
