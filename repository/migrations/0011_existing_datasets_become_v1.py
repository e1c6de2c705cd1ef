"""Every existing dataset becomes version 1 of itself, losing nothing: a published dataset's
citation metadata and file list are frozen into a published v1 (file rows share the storage
objects), an unpublished one gets an open draft v1. Two set-based statements per table, so the
migration takes seconds for 10^6 files, not a Python loop."""

from typing import Any

from django.db import migrations

VERSION_COLUMNS = (
    "dataset_id, number, state, title, description, licence, keywords, metadata, visibility, "
    "embargo_until, emdb_ids, empiar_id, publication_dois, notes, file_count, total_bytes, "
    "created, published_at, files_changed, withdrawal_reason"
)


def forwards(apps: Any, schema_editor: Any) -> None:
    dataset = apps.get_model("repository", "Dataset")._meta.db_table
    datafile = apps.get_model("repository", "DataFile")._meta.db_table
    version = apps.get_model("repository", "DatasetVersion")._meta.db_table
    versionfile = apps.get_model("repository", "VersionFile")._meta.db_table
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {version} ({VERSION_COLUMNS})
            SELECT d.id, 1,
                   CASE WHEN d.status = 'published' THEN 'published' ELSE 'draft' END,
                   d.title, d.description, d.licence, d.keywords, d.metadata,
                   CASE WHEN d.status = 'published' THEN d.visibility ELSE '' END,
                   d.embargo_until, d.emdb_ids, d.empiar_id, d.publication_dois, '',
                   (SELECT COUNT(*) FROM {datafile} f WHERE f.dataset_id = d.id),
                   (SELECT COALESCE(SUM(f.size), 0) FROM {datafile} f WHERE f.dataset_id = d.id),
                   COALESCE(d.published_at, d.created),
                   CASE WHEN d.status = 'published' THEN d.published_at ELSE NULL END,
                   %s, ''
            FROM {dataset} d
            WHERE NOT EXISTS (SELECT 1 FROM {version} v WHERE v.dataset_id = d.id)
            """,
            [False],
        )
        cursor.execute(
            f"""
            INSERT INTO {versionfile}
                (version_id, path, directory, name, size, storage_key, format,
                 checksum_sha256, checksum_md5)
            SELECT v.id, f.path, f.directory, f.name, f.size, f.storage_key, f.format,
                   f.checksum_sha256, f.checksum_md5
            FROM {datafile} f JOIN {version} v ON v.dataset_id = f.dataset_id
            WHERE v.number = 1 AND v.state = 'published'
            """
        )


class Migration(migrations.Migration):
    dependencies = [("repository", "0010_dataset_versions")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop, elidable=False)]
