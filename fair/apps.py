from django.apps import AppConfig


class FairConfig(AppConfig):
    name = "fair"
    verbose_name = "FAIR publication (DataCite, OAI-PMH, signposting, exports)"

    def ready(self) -> None:
        from repository import extensions

        from . import landing, negotiation

        # The repository's dataset pages answer machine forms by Accept and carry the FAIR
        # Signposting links; its landing pages get the JSON-LD and the identifier checks.
        extensions.register_view_wrapper(extensions.LANDING, negotiation.landing_view)
        extensions.register_view_wrapper(extensions.FILE, negotiation.file_view)
        extensions.register_view_wrapper(extensions.METADATA, negotiation.metadata_view)
        extensions.register_landing_context(landing.landing_context)
