"""Downloads from the pages: one file (presigned redirect on S3, Range-streamed locally), and
a whole dataset or folder as a checksum manifest, a URL list or a streamed ZIP; non-public
downloads are audited."""

from __future__ import annotations

import hashlib
import io
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest
import requests
from django.core import signing
from django.test import Client

from repository import bulk_downloads
from repository.models import AuditAction, AuditEvent, ProjectMembership
from tests.services import signed_for
from tests.support.catalogue import Catalogue, add_file

pytestmark = pytest.mark.django_db


def body(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def downloads_audited(dataset: Any) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(dataset=dataset, action=AuditAction.DOWNLOAD))


# --- one file -------------------------------------------------------------------------------------


def test_local_file_is_streamed_whole_and_by_range(client: Client, catalogue: Catalogue) -> None:
    movie = catalogue.files["movie"]
    url = f"/datasets/{catalogue.public.pid}/files/{movie.pk}/download"
    response = client.get(url)
    assert response.status_code == 200
    data = body(response)
    assert hashlib.sha256(data).hexdigest() == movie.checksum_sha256
    assert 'filename="FoilHole_1_Data_1.eer"' in response["Content-Disposition"]
    partial = client.get(url, HTTP_RANGE="bytes=100-199")
    assert partial.status_code == 206
    assert body(partial) == catalogue.contents["movie"][100:200]
    assert partial["Content-Range"] == f"bytes 100-199/{movie.size}"
    assert downloads_audited(catalogue.public) == []  # public files are not audited


@pytest.mark.services
def test_s3_file_is_a_presigned_redirect(client: Client, s3_catalogue: Catalogue) -> None:
    movie = s3_catalogue.files["movie"]
    response = client.get(f"/datasets/{s3_catalogue.public.pid}/files/{movie.pk}/download")
    assert response.status_code == 302
    fetched = requests.get(response["Location"], timeout=10)
    assert fetched.status_code == 200
    assert hashlib.sha256(fetched.content).hexdigest() == movie.checksum_sha256
    assert "FoilHole_1_Data_1.eer" in fetched.headers["Content-Disposition"]


def test_private_download_is_audited_and_refused_to_strangers(
    client: Client, catalogue: Catalogue
) -> None:
    secret = catalogue.files["secret"]
    url = f"/datasets/{catalogue.private.pid}/files/{secret.pk}/download"
    assert client.get(url).status_code == 404
    client.force_login(catalogue.world["stranger"])
    assert client.get(url).status_code == 404
    member = catalogue.world["member"]
    client.force_login(member)
    response = client.get(url)
    assert response.status_code == 200 and body(response) == catalogue.contents["secret"]
    [event] = downloads_audited(catalogue.private)
    assert event.actor == member and event.details["path"] == secret.path


def test_file_of_another_dataset_is_not_served(client: Client, catalogue: Catalogue) -> None:
    secret = catalogue.files["secret"]
    response = client.get(f"/datasets/{catalogue.public.pid}/files/{secret.pk}/download")
    assert response.status_code == 404
    assert catalogue.contents["secret"] not in response.content


# --- manifest -------------------------------------------------------------------------------------


def test_manifest_checks_with_sha256sum(
    client: Client, catalogue: Catalogue, tmp_path: Path
) -> None:
    response = client.get(f"/datasets/{catalogue.public.pid}/manifest.sha256")
    assert response.status_code == 200
    manifest = body(response).decode()
    assert manifest.count("\n") == 3
    for name in ("movie", "micrograph", "notes"):
        target = tmp_path / catalogue.files[name].path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(catalogue.contents[name])
    (tmp_path / "manifest.sha256").write_text(manifest)
    checked = subprocess.run(
        ["sha256sum", "-c", "manifest.sha256"], cwd=tmp_path, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    (tmp_path / "README.txt").write_bytes(b"changed")
    assert (
        subprocess.run(
            ["sha256sum", "-c", "--quiet", "manifest.sha256"], cwd=tmp_path, capture_output=True
        ).returncode
        == 1
    )


def test_folder_manifest_has_only_that_folder(client: Client, catalogue: Catalogue) -> None:
    response = client.get(
        f"/datasets/{catalogue.public.pid}/manifest.sha256", {"dir": "Micrographs"}
    )
    lines = body(response).decode().splitlines()
    assert lines == [f"{catalogue.files['micrograph'].checksum_sha256}  Micrographs/mic_0001.mrc"]
    assert "Micrographs" in response["Content-Disposition"]


# --- URL lists ------------------------------------------------------------------------------------


def test_local_url_list_gives_working_signed_links(client: Client, catalogue: Catalogue) -> None:
    response = client.get(f"/datasets/{catalogue.public.pid}/urls.txt")
    assert response.status_code == 200
    assert "X-OpenEM-Links-Expire" in response
    urls = body(response).decode().split()
    assert len(urls) == 3
    by_name = {url.rsplit("/", 1)[1]: url for url in urls}
    link = by_name["mic_0001.mrc"].split("://", 1)[1].split("/", 1)[1]
    anonymous = Client()
    fetched = anonymous.get("/" + link)
    assert fetched.status_code == 200
    assert body(fetched) == catalogue.contents["micrograph"]
    token = link.split("/")[1]
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    assert anonymous.get(f"/download/{tampered}/mic_0001.mrc").status_code == 403


def test_signed_links_expire_and_follow_revoked_access(
    client: Client, catalogue: Catalogue, settings: Any
) -> None:
    member = catalogue.world["member"]
    secret = catalogue.files["secret"]
    token = bulk_downloads.signed_download_token(datafile=secret, user=member)
    url = f"/download/{token}/{secret.name}"
    assert Client().get(url).status_code == 200
    assert len(downloads_audited(catalogue.private)) == 1  # recorded in the member's name
    assert downloads_audited(catalogue.private)[0].actor == member
    ProjectMembership.objects.filter(user=member).delete()
    assert Client().get(url).status_code == 403  # no longer a member: the link stops working
    assert bulk_downloads.signed_download_open(token) is not None
    settings.OPENEM_PRESIGN_EXPIRY = -1  # every link is now older than its lifetime
    assert bulk_downloads.signed_download_open(token) is None
    forged = signing.dumps({"f": secret.pk, "u": member.pk}, salt="another purpose")
    assert bulk_downloads.signed_download_open(forged) is None


def test_curl_list_keeps_the_folder_layout(client: Client, catalogue: Catalogue) -> None:
    response = client.get(f"/datasets/{catalogue.public.pid}/urls.txt", {"format": "curl"})
    text = body(response).decode()
    assert text.startswith("# OpenEM data portal: presigned download links, valid until")
    assert 'output = "Images-Disc1/GridSquare_1/Data/FoilHole_1_Data_1.eer"' in text
    assert text.count('url = "') == 3
    folder = body(
        client.get(
            f"/datasets/{catalogue.public.pid}/urls.txt", {"format": "curl", "dir": "Images-Disc1"}
        )
    ).decode()
    assert 'output = "GridSquare_1/Data/FoilHole_1_Data_1.eer"' in folder
    assert (
        client.get(f"/datasets/{catalogue.public.pid}/urls.txt", {"format": "aria"}).status_code
        == 400
    )


@pytest.mark.services
def test_s3_url_list_is_presigned(client: Client, s3_catalogue: Catalogue) -> None:
    urls = body(client.get(f"/datasets/{s3_catalogue.public.pid}/urls.txt")).decode().split()
    assert len(urls) == 3 and all("X-Amz-Expires=" in url for url in urls)
    contents = {hashlib.sha256(requests.get(url, timeout=10).content).hexdigest() for url in urls}
    assert contents == {
        f.checksum_sha256
        for k, f in s3_catalogue.files.items()
        if f.dataset_id == s3_catalogue.public.pk
    }


def test_private_url_list_is_audited(client: Client, catalogue: Catalogue) -> None:
    client.force_login(catalogue.world["staff"])
    response = client.get(f"/datasets/{catalogue.private.pid}/urls.txt")
    assert response.status_code == 200 and len(body(response).split()) == 1
    [event] = downloads_audited(catalogue.private)
    assert event.details["url_list"] == "/" and event.details["files"] == 1


# --- ZIP --------------------------------------------------------------------------------------------


def test_zip_streams_the_files(client: Client, catalogue: Catalogue) -> None:
    response = client.get(f"/datasets/{catalogue.public.pid}/download.zip")
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(body(response)))
    assert archive.testzip() is None
    assert sorted(archive.namelist()) == sorted(
        catalogue.files[n].path for n in ("movie", "micrograph", "notes")
    )
    for name in ("movie", "micrograph", "notes"):
        assert archive.read(catalogue.files[name].path) == catalogue.contents[name]


def test_folder_zip_is_relative_to_the_folder(client: Client, catalogue: Catalogue) -> None:
    response = client.get(f"/datasets/{catalogue.public.pid}/download.zip", {"dir": "Images-Disc1"})
    archive = zipfile.ZipFile(io.BytesIO(body(response)))
    assert archive.namelist() == ["GridSquare_1/Data/FoilHole_1_Data_1.eer"]


def test_zip_stream_holds_one_block_at_a_time(catalogue: Catalogue) -> None:
    files = list(bulk_downloads.bulk_files(catalogue.public))
    blocks = list(bulk_downloads.zip_stream(files))
    assert max(len(b) for b in blocks) <= bulk_downloads.ZIP_CHUNK + 64 * 1024
    assert zipfile.ZipFile(io.BytesIO(b"".join(blocks))).testzip() is None


def test_zip_above_the_limit_points_to_manifest_and_cli(
    client: Client, catalogue: Catalogue, settings: Any
) -> None:
    settings.OPENEM_ZIP_MAX_BYTES = 1000
    response = client.get(f"/datasets/{catalogue.public.pid}/download.zip")
    assert response.status_code == 409
    text = response.content.decode()
    assert "more than the 1000 bytes a ZIP download may have" in text
    assert f"openem download {catalogue.public.pid}" in text
    assert "manifest.sha256" in text
    landing_html = client.get(catalogue.public.get_absolute_url()).content.decode()
    assert "data-zip-refused" in landing_html and "download.zip" not in landing_html


def test_private_zip_is_audited(client: Client, catalogue: Catalogue) -> None:
    client.force_login(catalogue.world["member"])
    response = client.get(f"/datasets/{catalogue.private.pid}/download.zip")
    assert (
        zipfile.ZipFile(io.BytesIO(body(response))).read("Micrographs/secret.mrc")
        == catalogue.contents["secret"]
    )
    [event] = downloads_audited(catalogue.private)
    assert event.details["zip"] == "/" and event.details["bytes"] == len(
        catalogue.contents["secret"]
    )


def test_zip_of_too_many_files_is_refused(
    client: Client, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk_downloads, "ZIP_MAX_FILES", 2)
    response = client.get(f"/datasets/{catalogue.public.pid}/download.zip")
    assert response.status_code == 409
    assert "more than 2 files" in response.content.decode()
    folder = client.get(f"/datasets/{catalogue.public.pid}/download.zip", {"dir": "Micrographs"})
    assert folder.status_code == 200  # one file: fine
    html = client.get(catalogue.public.get_absolute_url()).content.decode()
    assert "This dataset has more than 2 files" in html
    for index in range(3):
        add_file(catalogue.public, f"Micrographs/extra_{index}.mrc", b"x" * 10)
    crowded = client.get(f"/datasets/{catalogue.public.pid}/download.zip", {"dir": "Micrographs"})
    assert crowded.status_code == 409 and "more than 2 files" in crowded.content.decode()
    browser = client.get(f"/datasets/{catalogue.public.pid}/files/", {"dir": "Micrographs"})
    assert "download.zip" not in browser.content.decode()  # no ZIP offered for that folder


def test_a_preview_on_s3_answers_head_with_a_url_signed_for_head(
    client: Client, s3_catalogue: Catalogue, s3_storage: Any
) -> None:
    movie = s3_catalogue.files["movie"]
    url = f"/datasets/{s3_catalogue.public.pid}/files/{movie.pk}/thumbnail.png"

    head = client.head(url)
    get = client.get(url)

    assert head.status_code == get.status_code == 302
    assert signed_for(head["Location"], "HEAD", s3_storage)
    assert not signed_for(head["Location"], "GET", s3_storage)
    assert signed_for(get["Location"], "GET", s3_storage)
    assert requests.get(get["Location"], timeout=10).content.startswith(b"\x89PNG")
