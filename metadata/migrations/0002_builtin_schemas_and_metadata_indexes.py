"""Load the built-in schemas (a fresh install has them) and, on PostgreSQL, index the
datasets' metadata for search.

The indexes are on repository's Dataset table but belong to metadata search, so they live here
as SQL that runs on PostgreSQL only (SQLite has no jsonb). They are built CONCURRENTLY, which
needs a migration outside a transaction; loading the schemas is idempotent.

- ``dataset_metadata_gin``: GIN (jsonb_path_ops) for containment (``metadata @> ...``), which
  metadata.search uses for exact matches of text fields.
- ``dataset_md_*_si``: the jsonb at the valueSI of the quantities searched most; the
  comparisons of metadata.search (``metadata #> '{...}' >= '1e-10'``) use them.
"""

from django.db import migrations

GIN_INDEX = "dataset_metadata_gin"
SI_INDEXES = {
    "dataset_md_pixel_size_si": "acquisition,pixel_size,valueSI",
    "dataset_md_voltage_si": "instrument,acceleration_voltage,valueSI",
    "dataset_md_dose_si": "acquisition,dose_per_movie,valueSI",
}


def load_builtin_schemas(apps, schema_editor):
    from metadata.builtin import builtin_schemas

    MetadataSchema = apps.get_model("metadata", "MetadataSchema")
    for builtin in builtin_schemas():
        MetadataSchema.objects.get_or_create(
            name=builtin.name,
            version=builtin.version,
            defaults={
                "document": builtin.document,
                "techniques": list(builtin.techniques),
                "builtin": True,
                "status": "active",
            },
        )


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = schema_editor.quote_name(apps.get_model("repository", "Dataset")._meta.db_table)
    schema_editor.execute(
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {GIN_INDEX} "
        f"ON {table} USING gin (metadata jsonb_path_ops)"
    )
    for name, path in SI_INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} "
            f"((metadata #> '{{{path}}}'))"
        )


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in (GIN_INDEX, *SI_INDEXES):
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("metadata", "0001_initial"),
        ("repository", "0002_schema_link_and_api_tokens"),
    ]

    operations = [
        migrations.RunPython(load_builtin_schemas, migrations.RunPython.noop, atomic=True),
        migrations.RunPython(create_indexes, drop_indexes),
    ]
