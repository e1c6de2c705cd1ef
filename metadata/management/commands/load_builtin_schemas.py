"""``manage.py load_builtin_schemas``: register the project's built-in schemas (idempotent)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from metadata import registry
from openem.errors import DomainError


class Command(BaseCommand):
    help = "Register the built-in OSC-EM-shaped schemas (metadata/builtin/); safe to repeat."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            results = registry.schema_load_builtins()
        except DomainError as exc:
            raise CommandError(exc.message) from None
        for schema, action in results:
            self.stdout.write(f"{schema.name} {schema.version}: {action}")
