"""The versions API: list, one version (metadata, DOI, state), its frozen files (cursor pages,
410 once withdrawn), downloads of an old version's file, starting and withdrawing versions."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from repository import services, versions
from repository.models import Visibility
from tests.support.api import error_of

AUTHORS = [{"given_name": "Ada", "family_name": "Lovelace"}]


def published_twice(world: Any, store_file: Any) -> Any:
    """v1 with a.mrc and b.mrc; v2 without b.mrc, with c.mrc."""
    dataset = services.dataset_create(
        actor=world["staff"],
        title="Apoferritin session",
        facility=world.facility,
        technique="spa",
        metadata={"organizational": {"authors": AUTHORS}},
    )
    store_file(dataset, "a.mrc", b"A" * 10)
    store_file(dataset, "b.mrc", b"B" * 20)
    services.dataset_publish(actor=world["curator"], dataset=dataset)
    versions.version_start_draft(actor=world["curator"], dataset=dataset, notes="swap b for c")
    versions.version_draft_remove_files(actor=world["curator"], dataset=dataset, paths=["b.mrc"])
    store_file(dataset, "c.mrc", b"C" * 30)
    services.dataset_publish(actor=world["curator"], dataset=dataset)
    return dataset


def test_versions_are_listed_with_their_state_and_doi(
    world: Any, store_file: Any, client_for: Any, settings: Any
) -> None:
    settings.OPENEM_DATACITE_PREFIX = ""
    dataset = published_twice(world, store_file)
    versions.version_start_draft(actor=world["curator"], dataset=dataset)
    base = f"/api/v1/datasets/{dataset.pid}/versions/"

    public = client_for("anonymous").get(base).json()
    assert [(v["number"], v["state"]) for v in public["results"]] == [
        (1, "published"),
        (2, "published"),
    ]
    assert [v["is_latest"] for v in public["results"]] == [False, True]
    assert public["results"][0]["doi"]["state"] == "not_configured"
    assert "OpenEM PID" in public["results"][0]["doi"]["message"]
    staff = client_for("staff").get(base).json()
    assert [v["state"] for v in staff["results"]] == ["published", "published", "draft"]
    assert staff["results"][2]["files_url"] is None

    one = client_for("anonymous").get(f"{base}1/").json()
    assert (one["number"], one["file_count"], one["total_bytes"]) == (1, 2, 30)
    assert one["files_url"].endswith(f"/api/v1/datasets/{dataset.pid}/versions/1/files/")
    assert one["html_url"].endswith(f"/datasets/{dataset.pid}/v/1/")
    assert client_for("anonymous").get(f"{base}3/").status_code == 404  # the draft: insiders
    assert client_for("staff").get(f"{base}3/").json()["state"] == "draft"
    assert client_for("anonymous").get(f"{base}9/").status_code == 404
    detail = client_for("anonymous").get(f"/api/v1/datasets/{dataset.pid}/").json()
    assert detail["versions_url"].endswith(base)
    assert detail["doi"]["state"] == "not_configured"


def test_a_versions_files_are_frozen_paginated_and_downloadable(
    world: Any, store_file: Any, client_for: Any
) -> None:
    dataset = published_twice(world, store_file)
    client = client_for("anonymous")
    first = client.get(f"/api/v1/datasets/{dataset.pid}/versions/1/files/?page_size=1").json()
    assert [f["path"] for f in first["results"]] == ["a.mrc"]
    second = client.get(first["next"]).json()
    assert [f["path"] for f in second["results"]] == ["b.mrc"] and second["next"] is None
    b_file = second["results"][0]
    assert b_file["size"] == 20 and len(b_file["checksum_sha256"]) == 64
    v2 = client.get(f"/api/v1/datasets/{dataset.pid}/versions/2/files/").json()
    assert [f["path"] for f in v2["results"]] == ["a.mrc", "c.mrc"]
    prefixed = client.get(f"/api/v1/datasets/{dataset.pid}/versions/2/files/?prefix=c").json()
    assert [f["path"] for f in prefixed["results"]] == ["c.mrc"]

    # b.mrc left the working copy in v2; v1 still serves it, with ranges.
    answer = client.get(b_file["download_url"])
    assert answer.status_code == 200
    assert b"".join(answer.streaming_content) == b"B" * 20
    ranged = client.get(b_file["download_url"], HTTP_RANGE="bytes=0-4")
    assert ranged.status_code == 206 and b"".join(ranged.streaming_content) == b"BBBBB"
    missing = client.get(f"/api/v1/datasets/{dataset.pid}/versions/1/files/999999/download")
    assert missing.status_code == 404


def test_embargoed_version_files_are_for_insiders_until_the_date(
    world: Any, store_file: Any, client_for: Any
) -> None:
    dataset = services.dataset_create(
        actor=world["staff"],
        title="Embargoed",
        facility=world.facility,
        technique="spa",
        metadata={"organizational": {"authors": AUTHORS}},
    )
    store_file(dataset, "a.mrc", b"A")
    services.dataset_publish(
        actor=world["curator"],
        dataset=dataset,
        visibility=Visibility.EMBARGOED,
        embargo_until=timezone.localdate() + dt.timedelta(days=30),
    )
    url = f"/api/v1/datasets/{dataset.pid}/versions/1/files/"
    assert client_for("anonymous").get(url).status_code == 401
    assert client_for("stranger").get(url).status_code == 403
    assert client_for("staff").get(url).status_code == 200  # an insider
    assert (
        client_for("anonymous").get(f"/api/v1/datasets/{dataset.pid}/versions/1/").status_code
        == 200
    )


def test_start_and_withdraw_versions_over_the_api(
    world: Any, store_file: Any, client_for: Any
) -> None:
    dataset = published_twice(world, store_file)
    base = f"/api/v1/datasets/{dataset.pid}/versions/"
    assert client_for("anonymous").post(base, {}, format="json").status_code == 401
    assert client_for("staff").post(base, {}, format="json").status_code == 403
    assert client_for("curator", scope="read").post(base, {}, format="json").status_code == 403
    started = client_for("curator").post(base, {"notes": "v3"}, format="json")
    assert started.status_code == 201 and started.json()["number"] == 3
    assert started["Location"].endswith(f"{base}3/")
    again = client_for("curator").post(base, {}, format="json")
    assert again.status_code == 409 and "already has an open draft" in error_of(again)["message"]

    empty = client_for("curator").post(f"{base}1/withdraw", {"reason": " "}, format="json")
    assert empty.status_code == 400
    assert (
        client_for("staff").post(f"{base}1/withdraw", {"reason": "x"}, format="json").status_code
        == 403
    )
    gone = client_for("curator").post(f"{base}1/withdraw", {"reason": "Mislabelled"}, format="json")
    assert gone.status_code == 200
    assert (gone.json()["state"], gone.json()["withdrawal_reason"]) == ("withdrawn", "Mislabelled")
    twice = client_for("curator").post(f"{base}1/withdraw", {"reason": "Again"}, format="json")
    assert twice.status_code == 409
    assert "already withdrawn" in error_of(twice)["message"]
    assert "Mislabelled" in error_of(twice)["message"]

    files = client_for("anonymous").get(f"{base}1/files/")
    assert files.status_code == 410
    assert error_of(files)["code"] == "gone" and "Mislabelled" in error_of(files)["message"]
    tombstone = client_for("anonymous").get(f"{base}1/").json()
    assert tombstone["files_url"] is None and tombstone["withdrawal_reason"] == "Mislabelled"
    assert client_for("anonymous").get(f"{base}2/files/").status_code == 200


def test_a_withdrawn_dataset_keeps_its_versions_citable(
    world: Any, store_file: Any, client_for: Any
) -> None:
    dataset = published_twice(world, store_file)
    base = f"/api/v1/datasets/{dataset.pid}/versions/"
    client_for("curator").post(f"{base}2/withdraw", {"reason": "Consent"}, format="json")
    anonymous = client_for("anonymous")
    listed = anonymous.get(base).json()["results"]
    assert [(v["number"], v["state"]) for v in listed] == [(1, "published"), (2, "withdrawn")]
    assert anonymous.get(f"{base}2/files/").status_code == 410
    # The whole dataset is withdrawn: no version's files are served any more.
    assert anonymous.get(f"{base}1/files/").status_code in (401, 403)
