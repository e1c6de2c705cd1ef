"""``manage.py check_storage``: can the portal use its object storage with the configured
credentials? Run before the web app and workers start (the compose file does), so that a key
without access to the bucket fails at once with what to fix, not on the first upload."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

import storage


class Command(BaseCommand):
    help = "Check that the configured object storage (S3 bucket or local folder) is usable."

    def handle(self, *args: Any, **options: Any) -> None:
        store = storage.get_store()
        if not isinstance(store, storage.S3Store):
            self.stdout.write("storage: local files (nothing to check)")
            return
        try:
            store.check_access()
        except storage.StorageError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"storage: bucket {store.bucket!r} at {store.client.meta.endpoint_url}: ok"
        )
