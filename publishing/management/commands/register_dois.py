"""``manage.py register_dois [PID ...]``: DOIs for datasets published before DataCite was
configured (every published dataset without all its DOIs, or the PIDs named)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from publishing import services
from publishing.selectors import doi_enabled
from repository.models import Dataset, DatasetStatus


class Command(BaseCommand):
    help = "Reserve and register the DOIs of published datasets that lack them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("pids", nargs="*", metavar="PID", help="only these datasets")

    def handle(self, *args: Any, **options: Any) -> None:
        if not doi_enabled():
            raise CommandError("no DataCite prefix is configured (OPENEM_DATACITE_PREFIX)")
        found = Dataset.objects.filter(
            status__in=[DatasetStatus.PUBLISHED, DatasetStatus.WITHDRAWN]
        ).exclude(visibility="private")
        if options["pids"]:
            found = found.filter(pid__in=options["pids"])
            unknown = sorted(set(options["pids"]) - set(found.values_list("pid", flat=True)))
            if unknown:
                raise CommandError(f"no published dataset {', '.join(unknown)}")
        total = datasets = 0
        for dataset in found.order_by("pk").iterator():
            created = services.doi_backfill(dataset=dataset)
            total += created
            datasets += bool(created)
        self.stdout.write(
            f"{total} DOI registrations created for {datasets} datasets; "
            "they are sent to DataCite by the worker."
        )
