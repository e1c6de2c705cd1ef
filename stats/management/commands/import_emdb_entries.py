"""manage.py import_emdb_entries FILE: load an EMDB/EMPIAR cross-reference export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from stats.importing import ImportFileError, read_export
from stats.services import emdb_entries_import


class Command(BaseCommand):
    help = (
        "Import EMDB entries (emdb_id, deposition_date, funding_countries, empiar_ids[, title]) "
        "from a CSV or JSON export, for the coverage dashboard. Bad rows are reported with their "
        "line numbers and skipped whole; entries already known are updated."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            parsed = read_export(options["file"])
        except ImportFileError as exc:
            raise CommandError(f"{exc}. Nothing was imported.") from None
        for error in parsed.errors:
            self.stderr.write(f"skipped {error}")
        report = emdb_entries_import(parsed.rows)
        self.stdout.write(
            f"Imported {len(parsed.rows)} EMDB entries ({report.created} new, "
            f"{report.updated} updated); skipped {len(parsed.errors)} bad row"
            f"{'' if len(parsed.errors) == 1 else 's'}."
        )
