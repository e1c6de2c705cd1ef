"""Landing pages: what each persona sees, the citation, the JSON-LD, the metadata tables, the
thumbnails and the file browser (keyset pages, folders, per-file header)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.test import Client

from repository import citation, selectors
from repository.models import Dataset
from tests.factories import DatasetFactory
from tests.support.catalogue import Catalogue, add_file

pytestmark = pytest.mark.django_db


def page(client: Client, url: str, user: Any = None) -> tuple[int, str]:
    if user is not None and user.is_authenticated:
        client.force_login(user)
    response = client.get(url)
    return response.status_code, response.content.decode()


def json_ld(html: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    assert match is not None, "no JSON-LD on the page"
    return json.loads(match.group(1))


# --- who sees what ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "dataset", "status"),
    [
        ("anonymous", "public", 200),
        ("anonymous", "embargoed", 200),
        ("anonymous", "private", 404),
        ("stranger", "private", 404),
        ("member", "private", 200),
        ("staff", "private", 200),
        ("other_staff", "private", 404),
        ("staff", "draft", 404),
        ("other_staff", "draft", 200),
    ],
)
def test_landing_page_follows_the_access_rules(
    client: Client, catalogue: Catalogue, persona: str, dataset: str, status: int
) -> None:
    target: Dataset = getattr(catalogue, dataset)
    code, html = page(client, target.get_absolute_url(), catalogue.world[persona])
    assert code == status
    if status == 404:
        assert target.title not in html
    else:
        assert f"<h1>{target.title}</h1>" in html


def test_embargoed_files_are_closed_but_metadata_is_open(
    client: Client, catalogue: Catalogue
) -> None:
    dataset = catalogue.embargoed
    code, html = page(client, dataset.get_absolute_url())
    assert code == 200
    assert "data-files-closed" in html and "under embargo until" in html
    assert catalogue.files["tilt"].name not in html
    assert "Pixel size" in html  # metadata is public
    assert "dataset-zip" not in html and "download.zip" not in html
    tilt = catalogue.files["tilt"]
    for url in (
        f"/datasets/{dataset.pid}/files/",
        f"/datasets/{dataset.pid}/files/{tilt.pk}/",
        f"/datasets/{dataset.pid}/files/{tilt.pk}/download",
        f"/datasets/{dataset.pid}/files/{tilt.pk}/thumbnail.png",
        f"/datasets/{dataset.pid}/manifest.sha256",
        f"/datasets/{dataset.pid}/urls.txt",
        f"/datasets/{dataset.pid}/download.zip",
    ):
        assert client.get(url).status_code == 403, url


# --- what the page says ---------------------------------------------------------------------------


def test_landing_page_parts(client: Client, catalogue: Catalogue) -> None:
    dataset = catalogue.public
    code, html = page(client, dataset.get_absolute_url())
    assert code == 200
    # authors with ORCID links
    assert "Rosalind Franklin" in html
    assert 'href="https://orcid.org/0000-0002-1825-0097"' in html
    # citation with a copy button
    citation = re.search(r'<p id="citation-text">(.*?)</p>', html, re.S)
    assert citation is not None
    assert citation.group(1).startswith("Franklin, R. &amp; Dubochet, J. (")
    assert dataset.pid in citation.group(1)
    assert 'data-copy="#citation-text"' in html
    # cross-references
    for url in (
        "https://www.ebi.ac.uk/emdb/EMD-12345",
        "https://www.ebi.ac.uk/empiar/EMPIAR-10999/",
        "https://doi.org/10.1038/s41586-020-2649-2",
    ):
        assert f'href="{url}"' in html
    # licence, facility, instrument, visibility
    assert 'rel="license"' in html and "CC-BY-4.0" in html
    assert catalogue.world.facility.name in html and catalogue.world.instrument.model in html
    assert 'data-visibility="public"' in html
    # metadata tables with units and sources
    row = re.search(r'<tr data-path="acquisition.pixel_size">(.*?)</tr>', html, re.S)
    assert row is not None
    assert "0.83" in row.group(1) and '<span class="unit">Å</span>' in row.group(1)
    assert 'class="source extracted"' in row.group(1)
    entered = re.search(r'<tr data-path="sample.name">(.*?)</tr>', html, re.S)
    assert entered is not None and 'class="source entered"' in entered.group(1)
    # thumbnail gallery
    for name in ("movie", "micrograph"):
        file_id = catalogue.files[name].pk
        assert f"/datasets/{dataset.pid}/files/{file_id}/thumbnail.png" in html
    assert f"/files/{catalogue.files['notes'].pk}/thumbnail.png" not in html
    # people are numbered from one; their contact details are not published
    assert "Authors #1 · Family name" in html
    assert "rf@example.org" not in html


def test_validation_status_is_for_those_who_curate(client: Client, catalogue: Catalogue) -> None:
    url = catalogue.public.get_absolute_url()
    assert "data-validation" not in page(client, url)[1]
    assert "data-validation" not in page(client, url, catalogue.world["stranger"])[1]
    _, html = page(client, url, catalogue.world["curator"])
    assert "data-validation" in html
    assert "1 problem" in html and "sample.overall_molecule" in html
    assert "rf@example.org" in html  # insiders see the authors' contact details
    assert "Checked 2026-03-01 11:00" in html  # in the portal's time zone


def test_json_ld_describes_the_dataset(client: Client, catalogue: Catalogue) -> None:
    dataset = catalogue.public
    document = json_ld(page(client, dataset.get_absolute_url())[1])
    assert document["@context"] == "https://schema.org/"
    assert document["@type"] == "Dataset"
    assert document["name"] == dataset.title
    assert len(document["description"]) >= 50
    assert dataset.pid in document["identifier"]
    assert document["creator"][0]["@id"] == "https://orcid.org/0000-0002-1825-0097"
    assert document["creator"][0]["familyName"] == "Franklin"
    assert document["license"] == "https://creativecommons.org/licenses/by/4.0/"
    assert document["keywords"] == ["apoferritin", "benchmark sample"]
    assert "Single-particle analysis" in document["measurementTechnique"]
    assert document["dateModified"].startswith(str(dataset.modified.date()))
    formats = {d["encodingFormat"] for d in document["distribution"]}
    assert {"text/plain", "text/uri-list", "application/zip"} <= formats
    assert all(d["contentUrl"].startswith("http") for d in document["distribution"])
    assert "https://www.ebi.ac.uk/emdb/EMD-12345" in document["sameAs"]


def test_json_ld_cannot_be_broken_out_of(client: Client, world: Any, local_storage: Any) -> None:
    dataset = DatasetFactory(
        title='Evil </script><script>alert("x")</script> & co', facility=world.facility
    )
    html = page(client, dataset.get_absolute_url())[1]
    assert '</script><script>alert("x")' not in html
    assert json_ld(html)["name"] == dataset.title


def test_embargoed_json_ld_has_no_downloads(client: Client, catalogue: Catalogue) -> None:
    document = json_ld(page(client, catalogue.embargoed.get_absolute_url())[1])
    assert "distribution" not in document
    assert "embargo" in document["conditionsOfAccess"]


def test_bibtex(client: Client, catalogue: Catalogue) -> None:
    response = client.get(f"/datasets/{catalogue.public.pid}/citation.bib")
    text = response.content.decode()
    assert response.status_code == 200
    assert text.startswith(f"@misc{{{catalogue.public.pid},")
    assert "author = {Franklin, Rosalind and Dubochet, Jacques}" in text
    assert client.get(f"/datasets/{catalogue.private.pid}/citation.bib").status_code == 404


def test_citation_without_authors_cites_the_facility(world: Any) -> None:
    dataset = DatasetFactory(title="A map.", facility=world.facility)
    text = citation.citation_text(dataset, url="https://example.org/d")
    assert text.startswith(f"{world.facility.name} ({dataset.created.year}). A map [Data set].")


# --- thumbnails ---------------------------------------------------------------------------------


def test_thumbnail_is_streamed_from_local_storage(client: Client, catalogue: Catalogue) -> None:
    movie = catalogue.files["movie"]
    response = client.get(f"/datasets/{catalogue.public.pid}/files/{movie.pk}/thumbnail.png")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response.content.startswith(b"\x89PNG")
    notes = catalogue.files["notes"]
    assert (
        client.get(f"/datasets/{catalogue.public.pid}/files/{notes.pk}/thumbnail.png").status_code
        == 404
    )


@pytest.mark.services
def test_thumbnail_is_a_presigned_redirect_on_s3(client: Client, s3_catalogue: Catalogue) -> None:
    import requests

    movie = s3_catalogue.files["movie"]
    response = client.get(f"/datasets/{s3_catalogue.public.pid}/files/{movie.pk}/thumbnail.png")
    assert response.status_code == 302
    assert "X-Amz-Signature" in response["Location"]
    fetched = requests.get(response["Location"], timeout=10)
    assert fetched.status_code == 200 and fetched.content.startswith(b"\x89PNG")


def test_private_thumbnail_is_refused(client: Client, catalogue: Catalogue) -> None:
    secret = catalogue.files["secret"]
    url = f"/datasets/{catalogue.private.pid}/files/{secret.pk}/thumbnail.png"
    assert client.get(url).status_code == 404
    client.force_login(catalogue.world["member"])
    assert client.get(url).status_code == 200


# --- file browser -------------------------------------------------------------------------------


def test_file_browser_lists_folders_and_files(client: Client, catalogue: Catalogue) -> None:
    pid = catalogue.public.pid
    _, html = page(client, f"/datasets/{pid}/")
    folders = re.findall(r'data-folder="([^"]+)"', html)
    assert folders == ["Images-Disc1", "Micrographs"]
    assert 'data-name="README.txt"' in html
    _, html = page(client, f"/datasets/{pid}/files/?dir=Images-Disc1")
    assert re.findall(r'data-folder="([^"]+)"', html) == ["GridSquare_1"]
    _, html = page(client, f"/datasets/{pid}/files/?dir=Images-Disc1/GridSquare_1/Data")
    assert 'data-name="FoilHole_1_Data_1.eer"' in html
    movie = catalogue.files["movie"]
    assert movie.checksum_sha256[:12] in html
    assert client.get(f"/datasets/{pid}/files/?dir=Nope").status_code == 404


def test_file_browser_pages_by_key(client: Client, catalogue: Catalogue) -> None:
    dataset = catalogue.public
    for index in range(120):
        add_file(dataset, f"Movies/movie_{index:04d}.tif", b"x" * (index + 1), file_format="tiff")
    names: list[str] = []
    url = f"/datasets/{dataset.pid}/files/?dir=Movies"
    pages = 0
    while url:
        html = client.get(url, HTTP_HX_REQUEST="true").content.decode()
        assert html.lstrip().startswith('<div class="file-browser"')  # the htmx partial
        names += re.findall(r'data-name="([^"]+)"', html)
        pages += 1
        nxt = re.search(r'rel="next" href="([^"]+)"', html)
        url = nxt.group(1).replace("&amp;", "&") if nxt else ""
    assert pages == 3
    assert names == [f"movie_{i:04d}.tif" for i in range(120)]
    # the previous page of the last page is the second one
    last = client.get(
        f"/datasets/{dataset.pid}/files/", {"dir": "Movies", "after": "movie_0099.tif"}
    ).content.decode()
    assert re.findall(r'data-name="([^"]+)"', last)[0] == "movie_0100.tif"
    previous = re.search(r'rel="prev" href="([^"]+)"', last)
    assert previous is not None
    back = client.get(previous.group(1).replace("&amp;", "&")).content.decode()
    assert re.findall(r'data-name="([^"]+)"', back) == [
        f"movie_{i:04d}.tif" for i in range(50, 100)
    ]


def test_all_directories_skip_scan(catalogue: Catalogue) -> None:
    directories, truncated = selectors.all_directories(catalogue.public)
    assert directories == ["", "Images-Disc1/GridSquare_1/Data", "Micrographs"]
    assert truncated is False
    cut, truncated = selectors.all_directories(catalogue.public, limit=2)
    assert cut == ["", "Images-Disc1/GridSquare_1/Data"] and truncated is True


def test_file_detail_shows_the_header_and_checksum(client: Client, catalogue: Catalogue) -> None:
    movie = catalogue.files["movie"]
    code, html = page(client, f"/datasets/{catalogue.public.pid}/files/{movie.pk}/")
    assert code == 200
    assert movie.checksum_sha256 in html
    assert "<td>voxel_size.x</td><td>0.83" in html
    assert f'/files/{movie.pk}/download"' in html
    other = catalogue.files["secret"]
    # a file of another dataset is not reachable through this dataset's URL
    assert client.get(f"/datasets/{catalogue.public.pid}/files/{other.pk}/").status_code == 404


def test_big_datasets_count_their_files_in_a_second_request(
    client: Client, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(selectors, "INLINE_SUMMARY_MAX_FILES", 2)  # the public dataset has 3
    dataset = catalogue.public
    html = client.get(dataset.get_absolute_url()).content.decode()
    summary_url = f"/datasets/{dataset.pid}/summary"
    assert f'hx-get="{summary_url}"' in html and "counting the files" in html
    assert "data-files=" not in html and "download.zip" not in html
    fragment = client.get(summary_url).content.decode()
    assert 'data-files="3"' in fragment
    assert 'id="download-panel"' in fragment and 'hx-swap-oob="true"' in fragment
    assert f"/datasets/{dataset.pid}/download.zip" in fragment
    # once counted, a published dataset's page shows the counts at once (cached)
    assert 'data-files="3"' in client.get(dataset.get_absolute_url()).content.decode()
    # the embargoed dataset's counts come without download choices; a private one is hidden
    embargoed = client.get(f"/datasets/{catalogue.embargoed.pid}/summary").content.decode()
    assert 'data-files="1"' in embargoed and "download-panel" not in embargoed
    assert client.get(f"/datasets/{catalogue.private.pid}/summary").status_code == 404
