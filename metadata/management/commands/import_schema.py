"""``manage.py import_schema PATH_OR_URL``: register a published JSON Schema version."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from metadata import registry
from openem.errors import DomainError


class Command(BaseCommand):
    help = (
        "Register a published JSON Schema (e.g. an official OSC-EM file) from a file path or an "
        "http(s) URL. Re-importing the same document is a no-op."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        # Our --version is the schema's version; it replaces Django's "print version" option.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("source", help="a JSON Schema file path or an http(s) URL")
        parser.add_argument("--name", help="registry name (default: from the file name)")
        parser.add_argument(
            "--version",
            dest="schema_version",
            help="semantic version (default: the document's 'version')",
        )
        parser.add_argument(
            "--technique",
            dest="techniques",
            action="append",
            default=[],
            help="a technique it applies to (repeatable), e.g. spa",
        )
        parser.add_argument(
            "--timeout", type=float, default=registry.DEFAULT_TIMEOUT, help="seconds, for URLs"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            schema, created = registry.schema_import(
                source=options["source"],
                name=options["name"],
                version=options["schema_version"],
                techniques=options["techniques"],
                timeout=options["timeout"],
            )
        except DomainError as exc:
            raise CommandError(exc.message) from None
        state = "registered" if created else "already registered (unchanged)"
        self.stdout.write(f"{schema.name} {schema.version}: {state}")
