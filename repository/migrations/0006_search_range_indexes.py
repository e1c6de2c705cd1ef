"""Range filters (pixel size, voltage, dose) read a range of their own index on PostgreSQL.

A search by a range of pixel size, voltage or dose, without words, used to read the whole
facet index (every dataset that may be seen) and drop what falls outside the range. Each SI
column of migration 0004 gets an index of its own, holding (``INCLUDE``) every column the
facets, the access rules and the other range filters read, so that such a search reads only
the datasets in its range, from the index alone (an index-only scan). SQLite: nothing here.
"""

from django.db import migrations

SI_COLUMNS = ("search_pixel_size_si", "search_voltage_si", "search_dose_si")
COVERED = (
    "id, status, visibility, technique, facility_id, instrument_id, licence, search_year, "
    "search_detectors, owner_id, project_id, published_at, created"
)


def _index(column: str) -> str:
    return f"dataset_{column.removeprefix('search_')}_idx"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = schema_editor.quote_name(apps.get_model("repository", "Dataset")._meta.db_table)
    for column in SI_COLUMNS:
        others = ", ".join(c for c in SI_COLUMNS if c != column)
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {_index(column)} ON {table} ({column}) "
            f"INCLUDE ({COVERED}, {others})"
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in SI_COLUMNS:
        schema_editor.execute(f"DROP INDEX IF EXISTS {_index(column)}")


class Migration(migrations.Migration):
    dependencies = [
        ("repository", "0005_search_facet_cells"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards),
    ]
