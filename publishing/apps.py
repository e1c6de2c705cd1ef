from django.apps import AppConfig


class PublishingConfig(AppConfig):
    name = "publishing"
    verbose_name = "Publishing (DataCite DOIs)"

    def ready(self) -> None:
        from repository.identifiers import register_doi_provider

        from . import receivers
        from .provider import PROVIDER

        # The repository's dataset events keep the DOIs in step (publishing.receivers).
        receivers.connect()
        # The repository's pages and API, and fair's records, show the DOIs registered here.
        register_doi_provider(PROVIDER)
