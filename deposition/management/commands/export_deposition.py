"""``manage.py export_deposition DATASET --target empiar|emdb|mmcif --out PATH``.

Writes the deposition document of a dataset (by PID or numeric id), prints the validation
report, and exits with status 1 when the document does not validate (so that a script never
takes an invalid document for a valid one). Reads only: nothing in the database changes.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from deposition.documents import EXPORT_TARGETS, build_document
from repository.models import Dataset


class Command(BaseCommand):
    help = "Write a dataset's EMPIAR JSON, EMDB XML or mmCIF em_* categories and validate them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("dataset", help="the dataset's PID (oem-...) or numeric id")
        parser.add_argument("--target", required=True, choices=EXPORT_TARGETS)
        parser.add_argument("--out", required=True, help="file to write ('-' for stdout)")

    def handle(self, *args: Any, **options: Any) -> None:
        reference = str(options["dataset"]).strip()
        query = (
            Dataset.objects.filter(pk=int(reference))
            if reference.isdigit()
            else Dataset.objects.filter(pid=reference)
        )
        dataset = query.first()
        if dataset is None:
            raise CommandError(f"no dataset {reference!r} (give its PID or numeric id)")
        built = build_document(dataset, options["target"])
        out = options["out"]
        if out == "-":
            sys.stdout.buffer.write(built.content)
            sys.stdout.flush()
        else:
            try:
                Path(out).write_bytes(built.content)
            except OSError as exc:
                raise CommandError(f"cannot write {out}: {exc.strerror or exc}") from None
            self.stderr.write(f"wrote {out} ({len(built.content)} bytes)")
        self.stderr.write(built.report.as_text())
        if not built.valid:
            raise CommandError(
                f"the {options['target']} document of {dataset.pid} does not validate "
                f"({len(built.report.errors)} error(s)); fix them before depositing"
            )
