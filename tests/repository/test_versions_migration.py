"""The data migration that turns every existing dataset into its version 1, run for real:
back to the schema before versions, rows made there, then forwards."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("repository", "0009_datafile_part_crc32s")]
AFTER = [("repository", "0011_existing_datasets_become_v1")]


@pytest.mark.django_db(transaction=True)
def test_existing_datasets_become_v1_without_losing_anything():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    User = old.get_model("auth", "User")
    Facility = old.get_model("repository", "Facility")
    Dataset = old.get_model("repository", "Dataset")
    DataFile = old.get_model("repository", "DataFile")
    owner = User.objects.create(username="owner")
    facility = Facility.objects.create(name="Basel", slug="basel")
    common = {"facility": facility, "owner": owner, "technique": "spa"}
    published = Dataset.objects.create(
        pid="oem-published0",
        title="Published one",
        status="published",
        visibility="embargoed",
        embargo_until="2030-01-01",
        licence="CC0-1.0",
        keywords=["ferritin"],
        metadata={"organizational": {"authors": [{"given_name": "A", "family_name": "B"}]}},
        published_at="2025-05-05T10:00:00Z",
        **common,
    )
    draft = Dataset.objects.create(pid="oem-draft00000", title="Draft", **common)
    for index in range(5):
        DataFile.objects.create(
            dataset=published,
            path=f"d/f{index}.mrc",
            directory="d",
            name=f"f{index}.mrc",
            size=10 + index,
            storage_key=f"k/{index}",
            checksum_sha256=f"{index:064x}",
            state="ready",
        )
    DataFile.objects.create(
        dataset=draft, path="x.tif", directory="", name="x.tif", size=1, storage_key="k/x"
    )

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps
    Version = new.get_model("repository", "DatasetVersion")
    VersionFile = new.get_model("repository", "VersionFile")
    NewDataFile = new.get_model("repository", "DataFile")

    v1 = Version.objects.get(dataset_id=published.pk)
    assert (v1.number, v1.state, v1.title, v1.licence, v1.visibility) == (
        1,
        "published",
        "Published one",
        "CC0-1.0",
        "embargoed",
    )
    assert str(v1.embargo_until) == "2030-01-01" and v1.keywords == ["ferritin"]
    assert v1.metadata["organizational"]["authors"][0]["family_name"] == "B"
    assert v1.published_at.isoformat().startswith("2025-05-05")
    assert (v1.file_count, v1.total_bytes) == (5, 60)
    assert list(
        VersionFile.objects.filter(version=v1)
        .order_by("path")
        .values_list("path", "size", "storage_key", "checksum_sha256")
    ) == [(f"d/f{i}.mrc", 10 + i, f"k/{i}", f"{i:064x}") for i in range(5)]
    # Nothing of the working copy was touched.
    assert NewDataFile.objects.count() == 6

    d1 = Version.objects.get(dataset_id=draft.pk)
    assert (d1.number, d1.state) == (1, "draft")
    assert not VersionFile.objects.filter(version=d1).exists()

    call_command("migrate", verbosity=0)  # leave the database as the other tests expect
