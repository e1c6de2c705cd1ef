"""Search and browse on PostgreSQL: generated columns and indexes for the portal's pages.

- ``search_document``: a stored generated ``tsvector`` (title and keywords A, authors and sample
  B, microscope, detectors and description C) with a GIN index, for ranked full-text search.
  Its expression must stay identical to ``repository.search.DOCUMENT_SQL`` (a test compares).
- ``search_detectors``: the detector names of the OSC-EM metadata (a JSON array as text), for
  the detector facet and filter; ``search_year``: the year a dataset is listed under; ``search_pixel_size_si``, ``search_voltage_si``, ``search_dose_si``:
  the SI values of the quantities the search page filters by range.
- ``dataset_facets_idx``: (status, visibility) with every column the facets, the access rules
  and the result ordering read, so that counting facets over 10^5 datasets is an index-only
  scan instead of reading the wide rows (metadata, document).
- ``dataset_title_idx``, ``dataset_listed_idx``: lower(title) and the listing date (published,
  or created), so that a page sorted by title or newest first stops after the rows it shows.
- ``datafile_summary_idx``: (dataset, state) with the size, so that a landing page counts the
  files and bytes of a dataset of 10^6 files from the index alone.

The columns are computed by PostgreSQL from the row itself (``GENERATED ALWAYS AS ... STORED``),
so no code path can forget to update them and Django never writes them; they are deliberately
not model fields. SQLite (the embedded default) searches with a simple substring fallback and
gets nothing here.
"""

import re

from django.db import migrations

DOCUMENT_SQL = """
setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A')
|| setweight(jsonb_to_tsvector('english'::regconfig, coalesce(keywords, '[]'::jsonb), '["string"]'::jsonb), 'A')
|| setweight(jsonb_to_tsvector('english'::regconfig, coalesce(metadata #> '{organizational,authors}', '[]'::jsonb), '["string"]'::jsonb), 'B')
|| setweight(jsonb_to_tsvector('english'::regconfig, coalesce(metadata -> 'sample', '{}'::jsonb), '["string"]'::jsonb), 'B')
|| setweight(jsonb_to_tsvector('english'::regconfig, coalesce(metadata #> '{instrument,microscope}', '{}'::jsonb), '["string"]'::jsonb), 'C')
|| setweight(jsonb_to_tsvector('english'::regconfig, coalesce(metadata #> '{acquisition,detectors}', '[]'::jsonb), '["string"]'::jsonb), 'C')
|| setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'C')
""".strip()
#: As text: grouping by text is cheaper than by jsonb; filters cast it back.
DETECTORS_SQL = "(jsonb_path_query_array(metadata, '$.acquisition.detectors[*].name'))::text"
#: The SI values the range filters compare (numeric: any JSON number fits; others are NULL).
SI_COLUMNS = {
    "search_pixel_size_si": "{acquisition,pixel_size,valueSI}",
    "search_voltage_si": "{instrument,acceleration_voltage,valueSI}",
    "search_dose_si": "{acquisition,dose_per_movie,valueSI}",
}
FACET_COLUMNS = (
    "id, technique, facility_id, instrument_id, licence, search_year, owner_id, project_id, "
    "published_at, created, search_detectors, " + ", ".join(SI_COLUMNS)
)


def _year_sql() -> str:
    """The year a dataset is listed under (published, or created for drafts), in the portal's
    time zone at migration time (a later change of OPENEM_TIME_ZONE only moves datasets
    published around New Year's midnight)."""
    from django.conf import settings

    zone = settings.TIME_ZONE
    if not re.fullmatch(r"[A-Za-z0-9_+\-/]+", zone):
        raise ValueError(f"unexpected time zone name {zone!r}")
    return f"(EXTRACT(year FROM (COALESCE(published_at, created) AT TIME ZONE '{zone}')))::integer"


def _si_sql(path: str) -> str:
    value = f"(metadata #> '{path}')"
    return f"CASE WHEN jsonb_typeof({value}) = 'number' THEN {value}::numeric END"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    dataset = schema_editor.quote_name(apps.get_model("repository", "Dataset")._meta.db_table)
    datafile = schema_editor.quote_name(apps.get_model("repository", "DataFile")._meta.db_table)
    for statement in (
        f"ALTER TABLE {dataset} ADD COLUMN IF NOT EXISTS search_document tsvector "
        f"GENERATED ALWAYS AS ({DOCUMENT_SQL}) STORED",
        f"ALTER TABLE {dataset} ADD COLUMN IF NOT EXISTS search_detectors text "
        f"GENERATED ALWAYS AS ({DETECTORS_SQL}) STORED",
        f"ALTER TABLE {dataset} ADD COLUMN IF NOT EXISTS search_year integer "
        f"GENERATED ALWAYS AS ({_year_sql()}) STORED",
        *(
            f"ALTER TABLE {dataset} ADD COLUMN IF NOT EXISTS {column} numeric "
            f"GENERATED ALWAYS AS ({_si_sql(path)}) STORED"
            for column, path in SI_COLUMNS.items()
        ),
        f"CREATE INDEX IF NOT EXISTS dataset_search_document_gin ON {dataset} "
        "USING gin (search_document)",
        f"CREATE INDEX IF NOT EXISTS dataset_facets_idx ON {dataset} (status, visibility) "
        f"INCLUDE ({FACET_COLUMNS})",
        f"CREATE INDEX IF NOT EXISTS dataset_title_idx ON {dataset} (lower(title), id)",
        f"CREATE INDEX IF NOT EXISTS dataset_listed_idx ON {dataset} "
        "((COALESCE(published_at, created)) DESC, id DESC)",
        f"CREATE INDEX IF NOT EXISTS datafile_summary_idx ON {datafile} (dataset_id, state) "
        "INCLUDE (size)",
    ):
        schema_editor.execute(statement)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    dataset = schema_editor.quote_name(apps.get_model("repository", "Dataset")._meta.db_table)
    for statement in (
        "DROP INDEX IF EXISTS datafile_summary_idx",
        "DROP INDEX IF EXISTS dataset_listed_idx",
        "DROP INDEX IF EXISTS dataset_title_idx",
        "DROP INDEX IF EXISTS dataset_facets_idx",
        "DROP INDEX IF EXISTS dataset_search_document_gin",
        f"ALTER TABLE {dataset} DROP COLUMN IF EXISTS search_year",
        f"ALTER TABLE {dataset} DROP COLUMN IF EXISTS search_detectors",
        *(f"ALTER TABLE {dataset} DROP COLUMN IF EXISTS {column}" for column in SI_COLUMNS),
        f"ALTER TABLE {dataset} DROP COLUMN IF EXISTS search_document",
    ):
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("repository", "0003_datafile_upload_id"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards),
    ]
