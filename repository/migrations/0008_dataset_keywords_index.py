"""PostgreSQL: a GIN index of the lower-cased keywords, so that the API's ``?keyword=`` (a whole
keyword, any case) is a containment test on the index instead of a scan of every dataset's
keywords as text. The expression is the one ``repository.search.filters.LowerKeywords`` renders."""

from django.db import migrations


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    dataset = schema_editor.quote_name(apps.get_model("repository", "Dataset")._meta.db_table)
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS dataset_keywords_lower_gin ON {dataset} "
        "USING gin ((lower(keywords::text)::jsonb) jsonb_path_ops)"
    )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS dataset_keywords_lower_gin")


class Migration(migrations.Migration):
    dependencies = [
        ("repository", "0007_datafile_format_path_index"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards),
    ]
