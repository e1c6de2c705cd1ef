"""Versions: publishing freezes a version; a new version starts as a draft of the latest;
withdrawal leaves a tombstone (410) and the files go from every surface."""

from __future__ import annotations

import pytest
from django.test import Client

from openem.errors import Conflict, NotAllowed, ValidationFailed
from repository import services, versions
from repository.models import (
    DataFile,
    DatasetStatus,
    DatasetVersion,
    FileState,
    VersionFile,
    VersionState,
)
from tests.factories import DataFileFactory

AUTHORS = [{"given_name": "Ada", "family_name": "Lovelace", "orcid": "0000-0002-1825-0097"}]


def new_dataset(world, *, files=("a/one.mrc", "a/two.mrc", "b/three.tif"), **extra):
    dataset = services.dataset_create(
        actor=world["staff"],
        title="Apoferritin session",
        facility=world.facility,
        technique="spa",
        metadata={"organizational": {"authors": AUTHORS}},
        **extra,
    )
    for index, path in enumerate(files):
        DataFileFactory(
            dataset=dataset,
            path=path,
            size=100 + index,
            state=FileState.READY,
            checksum_sha256=f"{index:064x}",
        )
    return dataset


def publish(world, dataset, **kw):
    return services.dataset_publish(actor=world["curator"], dataset=dataset, **kw)


def test_a_new_dataset_has_an_open_draft_v1_and_publishing_freezes_it(world):
    dataset = new_dataset(world)
    [draft] = versions.dataset_versions(dataset)
    assert (draft.number, draft.state) == (1, VersionState.DRAFT)
    assert versions.version_latest_published(dataset) is None

    publish(world, dataset)

    v1 = versions.version_latest_published(dataset)
    assert v1 is not None and v1.pk == draft.pk and v1.state == VersionState.PUBLISHED
    assert (v1.title, v1.licence, v1.metadata["organizational"]["authors"]) == (
        "Apoferritin session",
        "CC-BY-4.0",
        AUTHORS,
    )
    assert (v1.file_count, v1.total_bytes) == (3, 303)
    frozen = list(versions.version_files(v1).values_list("path", "size", "checksum_sha256"))
    assert frozen == [
        ("a/one.mrc", 100, f"{0:064x}"),
        ("a/two.mrc", 101, f"{1:064x}"),
        ("b/three.tif", 102, f"{2:064x}"),
    ]


def test_a_new_version_shares_unchanged_files_and_keeps_the_old_one_frozen(world):
    dataset = new_dataset(world)
    publish(world, dataset)
    v1 = versions.version_latest_published(dataset)

    with pytest.raises(Conflict, match="no open draft"):
        publish(world, dataset)  # nothing to publish without a new draft
    with pytest.raises(NotAllowed):
        versions.version_start_draft(actor=world["staff"], dataset=dataset)
    v2 = versions.version_start_draft(actor=world["curator"], dataset=dataset, notes="fix")
    assert v2.number == 2 and v2.state == VersionState.DRAFT
    with pytest.raises(Conflict, match="already has an open draft"):
        versions.version_start_draft(actor=world["curator"], dataset=dataset)

    versions.version_draft_remove_files(
        actor=world["curator"], dataset=dataset, paths=["a/two.mrc"]
    )
    DataFileFactory(dataset=dataset, path="c/new.mrc", size=7, state=FileState.READY)
    dataset.title = "Apoferritin session, reprocessed"
    dataset.save()
    publish(world, dataset)

    v1.refresh_from_db()
    v2.refresh_from_db()
    assert v1.title == "Apoferritin session" and v2.title.endswith("reprocessed")
    assert list(versions.version_files(v1).values_list("path", flat=True)) == [
        "a/one.mrc",
        "a/two.mrc",
        "b/three.tif",
    ]
    assert list(versions.version_files(v2).values_list("path", flat=True)) == [
        "a/one.mrc",
        "b/three.tif",
        "c/new.mrc",
    ]
    # Unchanged files are the same storage objects, never copied.
    key = DataFile.objects.get(dataset=dataset, path="a/one.mrc").storage_key
    assert set(
        VersionFile.objects.filter(path="a/one.mrc").values_list("storage_key", flat=True)
    ) == {key}
    assert versions.version_latest_published(dataset).number == 2
    assert versions.version_newer(v1).pk == v2.pk and versions.version_newer(v2) is None


def test_removing_paths_that_are_not_there_says_which(world):
    dataset = new_dataset(world)
    publish(world, dataset)
    versions.version_start_draft(actor=world["curator"], dataset=dataset)
    with pytest.raises(ValidationFailed, match="not in the dataset, e.g. 'nope.mrc'"):
        versions.version_draft_remove_files(
            actor=world["curator"], dataset=dataset, paths=["a/one.mrc", "nope.mrc"]
        )
    assert DataFile.objects.filter(dataset=dataset).count() == 3  # all or nothing


@pytest.mark.parametrize(
    ("change", "missing"),
    [
        ({"metadata": {}}, "creators"),
        ({"licence": ""}, "licence"),
        ({"title": " ", "metadata": {}}, "title, creators"),
    ],
)
def test_publishing_without_citation_fields_says_which_are_missing(world, change, missing):
    dataset = new_dataset(world)
    for field, value in change.items():
        setattr(dataset, field, value)
    dataset.save()
    with pytest.raises(ValidationFailed, match=f"missing: {missing}"):
        publish(world, dataset)
    dataset.refresh_from_db()
    assert dataset.status != DatasetStatus.PUBLISHED
    assert versions.version_latest_published(dataset) is None


def test_files_still_uploading_block_freezing(world):
    dataset = new_dataset(world)
    DataFileFactory(dataset=dataset, path="late.mrc", state=FileState.REGISTERED)
    with pytest.raises(ValidationFailed, match="1 files .* still uploading"):
        publish(world, dataset)
    assert versions.version_latest_published(dataset) is None


def test_landing_pages_show_the_version_the_list_and_a_newer_version_notice(world):
    dataset = new_dataset(world)
    publish(world, dataset)
    versions.version_start_draft(actor=world["curator"], dataset=dataset)
    dataset.title = "Second take"
    dataset.save()
    client = Client()

    # While v2 is a draft, the public sees v1's metadata, not the edits.
    page = client.get(f"/datasets/{dataset.pid}/").content.decode()
    assert "Apoferritin session" in page and "Second take" not in page
    assert 'data-version-number="1"' in page
    assert client.get(f"/datasets/{dataset.pid}/v/2/").status_code == 404  # a draft

    publish(world, dataset)
    latest = client.get(f"/datasets/{dataset.pid}/").content.decode()
    assert "Second take" in latest and "data-newer-version" not in latest
    old = client.get(f"/datasets/{dataset.pid}/v/1/")
    assert old.status_code == 200
    body = old.content.decode()
    assert "data-newer-version" in body and f"/datasets/{dataset.pid}/v/2/" in body
    assert "Apoferritin session" in body and "<h1>Second take" not in body
    assert 'data-version="1"' in body and 'data-version="2"' in body
    assert "a/two.mrc" in body  # the frozen file list of v1
    assert client.get(f"/datasets/{dataset.pid}/v/9/").status_code == 404


def test_withdrawal_leaves_a_410_tombstone_and_the_files_go_everywhere(world):
    dataset = new_dataset(world)
    publish(world, dataset)
    file_id = DataFile.objects.filter(dataset=dataset).first().pk
    client = Client()
    assert client.get(f"/datasets/{dataset.pid}/manifest.sha256").status_code == 200

    with pytest.raises(NotAllowed):
        versions.version_withdraw(actor=world["staff"], dataset=dataset, number=1, reason="x")
    with pytest.raises(ValidationFailed, match="needs a reason"):
        versions.version_withdraw(actor=world["curator"], dataset=dataset, number=1, reason=" ")
    versions.version_withdraw(
        actor=world["curator"], dataset=dataset, number=1, reason="Consent was withdrawn."
    )

    for url in (f"/datasets/{dataset.pid}/", f"/datasets/{dataset.pid}/v/1/"):
        response = client.get(url)
        assert response.status_code == 410, url
        body = response.content.decode()
        assert "Consent was withdrawn." in body and "Ada Lovelace" in body
        assert "Apoferritin session" in body and "one.mrc" not in body
    for persona in ("anonymous", "staff", "admin"):
        browser = Client()
        if persona != "anonymous":
            browser.force_login(world[persona])
        for url in (
            f"/datasets/{dataset.pid}/manifest.sha256",
            f"/datasets/{dataset.pid}/urls.txt",
            f"/datasets/{dataset.pid}/download.zip",
            f"/datasets/{dataset.pid}/files/{file_id}/download",
            f"/api/v1/datasets/{dataset.pid}/files/",
            f"/api/v1/datasets/{dataset.pid}/manifest",
        ):
            assert browser.get(url).status_code in (403, 404, 410), (persona, url)
    assert list(versions.version_files(versions.version_get(dataset, 1))) == []

    with pytest.raises(Conflict, match="already withdrawn on .*: Consent was withdrawn."):
        versions.version_withdraw(actor=world["curator"], dataset=dataset, number=1, reason="y")
    with pytest.raises(Conflict, match="withdrawn"):
        publish(world, dataset)


def test_withdrawing_an_old_version_keeps_the_latest(world):
    dataset = new_dataset(world)
    publish(world, dataset)
    versions.version_start_draft(actor=world["curator"], dataset=dataset)
    publish(world, dataset)
    versions.version_withdraw(actor=world["curator"], dataset=dataset, number=1, reason="Bad")
    client = Client()
    assert client.get(f"/datasets/{dataset.pid}/v/1/").status_code == 410
    assert client.get(f"/datasets/{dataset.pid}/").status_code == 200
    assert client.get(f"/datasets/{dataset.pid}/manifest.sha256").status_code == 200
    dataset.refresh_from_db()
    assert dataset.status == DatasetStatus.PUBLISHED


def test_an_upload_session_on_a_published_dataset_needs_a_draft_and_marks_it(world):
    from ingest.uploads import upload_session_create

    dataset = new_dataset(world)
    publish(world, dataset)
    with pytest.raises(Conflict, match="start a new version"):
        upload_session_create(actor=world["staff"], dataset=dataset)
    draft = versions.version_start_draft(actor=world["curator"], dataset=dataset)
    upload_session_create(actor=world["staff"], dataset=dataset)
    draft.refresh_from_db()
    assert draft.files_changed
    # Outsiders are no longer served the working copy, but the frozen v1 list.
    client = Client()
    assert client.get(f"/datasets/{dataset.pid}/manifest.sha256").status_code in (403, 404)
    assert "a/two.mrc" in client.get(f"/datasets/{dataset.pid}/").content.decode()
    assert DatasetVersion.objects.filter(dataset=dataset).count() == 2
