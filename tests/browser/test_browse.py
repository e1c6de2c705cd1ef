"""Researchers in a real browser: search, facets, landing pages, downloads, and the access
rules seen from the outside."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import log_in, screenshot, wait_for_js
from tests.support.catalogue import Catalogue

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_search_facet_and_landing_page(page: Any, catalogue: Catalogue) -> None:
    dataset = catalogue.public
    page.goto("/")
    screenshot(page, "01-home")
    page.fill("#home-q", "apoferritin")
    page.press("#home-q", "Enter")
    page.wait_for_url(re.compile(r"/datasets/\?q=apoferritin"))
    count = page.locator(".result-count")
    assert count.get_attribute("data-total") == "1"
    screenshot(page, "02-search")

    # a facet: htmx swaps the results and pushes the shareable URL
    page.goto("/datasets/")
    assert page.locator(".result-count").get_attribute("data-total") == "2"
    page.locator('[data-facet="technique"] a[data-value="spa"]').click()
    page.wait_for_url(re.compile(r"technique=spa"))
    page.wait_for_selector('[data-facet="technique"] a[data-value="spa"][aria-pressed="true"]')
    assert page.locator(".result-count").get_attribute("data-total") == "1"
    assert page.locator(".result h2 a").all_inner_texts() == [dataset.title]
    shared = page.url
    screenshot(page, "03-search-facet")
    page.goto(shared)  # the same URL, loaded afresh, gives the same result
    assert page.locator(".result h2 a").all_inner_texts() == [dataset.title]

    page.locator(".result h2 a").first.click()
    page.wait_for_url(re.compile(re.escape(dataset.get_absolute_url()) + "$"))
    assert page.locator("h1").inner_text() == dataset.title
    document = page.evaluate(
        "JSON.parse(document.querySelector('script[type=\"application/ld+json\"]').textContent)"
    )
    assert document["@type"] == "Dataset" and document["name"] == dataset.title
    # every preview in the gallery loaded as an image
    wait_for_js(
        page,
        "[...document.querySelectorAll('.gallery img')].every(i => i.complete && i.naturalWidth > 0)",
    )
    assert page.locator(".gallery img").count() == 2
    page.click('[data-copy="#citation-text"]')
    page.wait_for_selector(".citation .copied:not([hidden])")
    screenshot(page, "04-landing")

    # the file browser opens a folder in place (htmx) and a file's header page
    page.locator('.folders a[data-folder="Micrographs"]').click()
    page.wait_for_selector('tr[data-name="mic_0001.mrc"]')
    # swapped in place, and the folder is in the address: a reload or a shared link keeps it
    assert page.url.endswith(f"/datasets/{dataset.pid}/files/?dir=Micrographs")
    page.reload()
    page.wait_for_selector('tr[data-name="mic_0001.mrc"]')
    assert page.locator(".breadcrumbs strong").inner_text() == "Micrographs"
    screenshot(page, "05-file-browser")
    page.locator('tr[data-name="mic_0001.mrc"] .file-name a').click()
    page.wait_for_selector("#sha256")
    assert page.locator("#sha256").inner_text() == catalogue.files["micrograph"].checksum_sha256
    screenshot(page, "06-file-detail")
    assert page.js_errors == []


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_download_a_file_and_check_its_sha256(
    page: Any, backend: str, request: pytest.FixtureRequest
) -> None:
    catalogue: Catalogue = request.getfixturevalue(
        "catalogue" if backend == "local" else "s3_catalogue"
    )
    page.goto(catalogue.public.get_absolute_url() + "#files")
    page.locator('.folders a[data-folder="Micrographs"]').click()
    row = page.locator('tr[data-name="mic_0001.mrc"]')
    with page.expect_download() as info:
        row.locator("a[download]").click()
    download = info.value
    assert download.suggested_filename == "mic_0001.mrc"
    digest = hashlib.sha256(Path(download.path()).read_bytes()).hexdigest()
    assert digest == catalogue.files["micrograph"].checksum_sha256


def test_anonymous_cannot_reach_private_files_by_url(page: Any, catalogue: Catalogue) -> None:
    private = catalogue.private
    secret = catalogue.files["secret"]
    urls = [
        private.get_absolute_url(),
        f"/datasets/{private.pid}/files/",
        f"/datasets/{private.pid}/files/{secret.pk}/",
        f"/datasets/{private.pid}/files/{secret.pk}/download",
        f"/datasets/{private.pid}/files/{secret.pk}/thumbnail.png",
        f"/datasets/{private.pid}/manifest.sha256",
        f"/datasets/{private.pid}/urls.txt",
        f"/datasets/{private.pid}/download.zip",
        f"/datasets/{catalogue.public.pid}/files/{secret.pk}/download",  # through another dataset
    ]
    for url in urls:
        # the browser context's own requests (its cookies; none for an anonymous visitor)
        response = page.request.get(url, max_redirects=0)
        assert response.status == 404, url
        assert b"secret bytes" not in response.body()
        assert private.title.encode() not in response.body()
    response = page.goto(private.get_absolute_url())
    assert response is not None and response.status == 404
    screenshot(page, "07-private-not-found")
    # the embargoed dataset's page is open, its files are not
    tilt = catalogue.files["tilt"]
    assert page.goto(catalogue.embargoed.get_absolute_url()).status == 200
    assert page.locator("[data-files-closed]").count() == 1
    refused = page.request.get(f"/datasets/{catalogue.embargoed.pid}/files/{tilt.pk}/download")
    assert refused.status == 403 and b"under embargo until" in refused.body()
    # and a project member gets in
    log_in(page, "member")
    with page.expect_download() as info:
        page.evaluate(
            "url => { const a = document.createElement('a'); a.href = url; a.download = ''; document.body.appendChild(a); a.click() }",
            f"/datasets/{private.pid}/files/{secret.pk}/download",
        )
    assert Path(info.value.path()).read_bytes() == catalogue.contents["secret"]


def test_a_big_datasets_counts_arrive_after_the_page(
    page: Any, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    from repository import selectors

    monkeypatch.setattr(selectors, "INLINE_SUMMARY_MAX_FILES", 1)
    page.goto(catalogue.public.get_absolute_url())
    page.wait_for_selector('#files-fact[data-files="3"]')
    page.wait_for_selector('#download-panel a[href$="/download.zip"]')
    assert page.js_errors == []
