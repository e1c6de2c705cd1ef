"""Full-text search of datasets on PostgreSQL: a stored generated ``tsvector`` column and its GIN
index (repository.search ranks and filters on them).

The column is computed by PostgreSQL from the row itself (``GENERATED ALWAYS AS ... STORED``),
so no code path can forget to update it and Django never writes it; it is deliberately not a
model field. Its expression must stay identical to ``repository.search.DOCUMENT_SQL`` (a test
compares them). SQLite (the embedded default) searches with a simple substring fallback and
gets nothing here.
"""

from django.db import migrations

COLUMN = "search_document"
INDEX = "dataset_search_document_gin"
DOCUMENT_SQL = """
setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A')
|| setweight(jsonb_to_tsvector('english'::regconfig, coalesce(keywords, '[]'::jsonb), '["string"]'::jsonb), 'A')
|| setweight(jsonb_to_tsvector('english'::regconfig, coalesce(metadata #> '{organizational,authors}', '[]'::jsonb), '["string"]'::jsonb), 'B')
|| setweight(jsonb_to_tsvector('english'::regconfig, coalesce(metadata -> 'sample', '{}'::jsonb), '["string"]'::jsonb), 'B')
|| setweight(jsonb_to_tsvector('english'::regconfig, coalesce(metadata #> '{instrument,microscope}', '{}'::jsonb), '["string"]'::jsonb), 'C')
|| setweight(jsonb_to_tsvector('english'::regconfig, coalesce(metadata #> '{acquisition,detectors}', '[]'::jsonb), '["string"]'::jsonb), 'C')
|| setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'C')
""".strip()


def add_search_document(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = schema_editor.quote_name(apps.get_model("repository", "Dataset")._meta.db_table)
    schema_editor.execute(
        f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {COLUMN} tsvector "
        f"GENERATED ALWAYS AS ({DOCUMENT_SQL}) STORED"
    )
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {INDEX} ON {table} USING gin ({COLUMN})"
    )


def drop_search_document(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = schema_editor.quote_name(apps.get_model("repository", "Dataset")._meta.db_table)
    schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")
    schema_editor.execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS {COLUMN}")


class Migration(migrations.Migration):
    dependencies = [
        ("repository", "0003_datafile_upload_id"),
    ]

    operations = [
        migrations.RunPython(add_search_document, drop_search_document),
    ]
