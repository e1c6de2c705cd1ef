"""Faster search on PostgreSQL (issue 5: search and facets over 10^5 datasets, p95 < 200 ms).

- ``repository_dataset_facet_cell``: how many datasets share each combination of the columns
  the facets count and the access rules read first (status, visibility, technique, facility,
  instrument, licence, year, detectors). A search without words or ranges counts its facets
  from these cells (about a tenth of the rows of the dataset table, and far fewer on real,
  correlated catalogues) instead of from every dataset; ``repository.search`` adds the few
  datasets that only the user's own roles open. Triggers on the dataset table keep the
  cells exact on every write (insert, update, delete, truncate; also COPY and raw SQL), in
  the writing transaction, so no code path can forget them and a rollback undoes them.
  Statement-level triggers with transition tables: a bulk write updates each cell once.
  Missing values are stored as 0 (instrument, year) and ``'[]'`` (detectors), so that the
  cell key has no NULLs.
- ``search_document`` is kept in the row (``STORAGE MAIN``) rather than in the TOAST table:
  ranking thousands of matches then reads each document from the page the match is on,
  instead of three more pages (TOAST index and heap) per match. Rows written before this
  migration move when they are next updated (``VACUUM FULL repository_dataset`` moves all).

SQLite (the embedded default) counts from the dataset table; nothing here.
"""

from django.db import migrations

CELL_TABLE = "repository_dataset_facet_cell"
KEY = (
    "status",
    "visibility",
    "technique",
    "facility_id",
    "instrument_id",
    "licence",
    "search_year",
    "search_detectors",
)
#: The key of a dataset row (of the trigger's transition table ``rows``).
ROW_KEY = (
    "rows.status, rows.visibility, rows.technique, rows.facility_id, "
    "COALESCE(rows.instrument_id, 0), rows.licence, COALESCE(rows.search_year, 0), "
    "COALESCE(rows.search_detectors, '[]')"
)
KEYS = ", ".join(KEY)


#: All text is built from the constants above (no input): templates keep it readable.
ADD_SQL = (
    "INSERT INTO {cells} AS cell ({keys}, n) "
    "SELECT {row_key}, {sign}COUNT(*) FROM {rows} AS rows "
    "GROUP BY {row_key} ORDER BY {row_key} "
    "ON CONFLICT ({keys}) DO UPDATE SET n = cell.n + excluded.n;"
)
EMPTY_CELLS_SQL = " DELETE FROM {cells} WHERE n <= 0;"
ALL_CELLS_SQL = "DELETE FROM {cells};"
BACKFILL_SQL = (
    "INSERT INTO {cells} ({keys}, n) "
    "SELECT {row_key}, COUNT(*) FROM {table} AS rows GROUP BY {row_key}"
)


#: An update moves a dataset between cells only when its key changed: the others (a new
#: description, a modified time) touch no cell, so they never wait for another writer's.
#: Leaving and entering cells is one statement, so its cells are locked in one order too.
MOVES_SQL = (
    "INSERT INTO {cells} AS cell ({keys}, n) "
    "SELECT {keys}, SUM(n) FROM ("
    "SELECT {row_key}, -1 FROM old_rows AS rows JOIN new_rows AS other ON other.id = rows.id "
    "WHERE ({row_key}) IS DISTINCT FROM ({other_key}) "
    "UNION ALL "
    "SELECT {row_key}, 1 FROM new_rows AS rows JOIN old_rows AS other ON other.id = rows.id "
    "WHERE ({row_key}) IS DISTINCT FROM ({other_key})"
    ") AS moves ({keys}, n) "
    "GROUP BY {keys} HAVING SUM(n) <> 0 ORDER BY {keys} "
    "ON CONFLICT ({keys}) DO UPDATE SET n = cell.n + excluded.n;"
)


def _add(transition: str, sign: str) -> str:
    # ORDER BY: concurrent writers lock the cells in the same order (no deadlock).
    return ADD_SQL.format(cells=CELL_TABLE, keys=KEYS, row_key=ROW_KEY, sign=sign, rows=transition)


EMPTY_CELLS = EMPTY_CELLS_SQL.format(cells=CELL_TABLE)
MOVES = MOVES_SQL.format(
    cells=CELL_TABLE, keys=KEYS, row_key=ROW_KEY, other_key=ROW_KEY.replace("rows.", "other.")
)
FUNCTIONS = {
    "openem_facet_cells_insert": _add("new_rows", ""),
    "openem_facet_cells_delete": _add("old_rows", "-") + EMPTY_CELLS,
    "openem_facet_cells_update": MOVES + EMPTY_CELLS,
    "openem_facet_cells_truncate": ALL_CELLS_SQL.format(cells=CELL_TABLE),
}
TRIGGERS = {
    "openem_facet_cells_insert": "AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows",
    "openem_facet_cells_delete": "AFTER DELETE ON {table} REFERENCING OLD TABLE AS old_rows",
    "openem_facet_cells_update": (
        "AFTER UPDATE ON {table} REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows"
    ),
    "openem_facet_cells_truncate": "AFTER TRUNCATE ON {table}",
}


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = schema_editor.quote_name(apps.get_model("repository", "Dataset")._meta.db_table)
    statements = [
        f"ALTER TABLE {table} ALTER COLUMN search_document SET STORAGE MAIN",
        f"""CREATE TABLE {CELL_TABLE} (
            status varchar(16) NOT NULL,
            visibility varchar(16) NOT NULL,
            technique varchar(16) NOT NULL,
            facility_id bigint NOT NULL,
            instrument_id bigint NOT NULL,
            licence varchar(64) NOT NULL,
            search_year integer NOT NULL,
            search_detectors text NOT NULL,
            n bigint NOT NULL,
            PRIMARY KEY ({KEYS})
        )""",
    ]
    # Emptied cells are deleted by every write: an index of them only keeps that cheap.
    statements.append(f"CREATE INDEX {CELL_TABLE}_empty ON {CELL_TABLE} (n) WHERE n <= 0")
    for name, body in FUNCTIONS.items():
        statements.append(
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN {body} RETURN NULL; END $$"
        )
        statements.append(
            f"CREATE TRIGGER {name} {TRIGGERS[name].format(table=table)} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
        )
    statements.append(
        BACKFILL_SQL.format(cells=CELL_TABLE, keys=KEYS, row_key=ROW_KEY, table=table)
    )
    statements.append(f"ANALYZE {CELL_TABLE}")
    for statement in statements:
        schema_editor.execute(statement)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = schema_editor.quote_name(apps.get_model("repository", "Dataset")._meta.db_table)
    for name in FUNCTIONS:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {name}()")
    schema_editor.execute(f"DROP TABLE IF EXISTS {CELL_TABLE}")
    schema_editor.execute(f"ALTER TABLE {table} ALTER COLUMN search_document SET STORAGE EXTENDED")


class Migration(migrations.Migration):
    dependencies = [
        ("repository", "0004_dataset_search_document"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards),
    ]
