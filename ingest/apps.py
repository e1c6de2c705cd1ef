from django.apps import AppConfig


class IngestConfig(AppConfig):
    name = "ingest"
    verbose_name = "Ingest"

    def ready(self) -> None:
        from repository import extensions

        from . import landing

        # The landing page shows a live acquisition's panel.
        extensions.register_landing_context(landing.landing_context)
