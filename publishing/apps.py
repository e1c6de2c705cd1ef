from django.apps import AppConfig


class PublishingConfig(AppConfig):
    name = "publishing"
    verbose_name = "Publishing (DataCite DOIs)"

    def ready(self) -> None:
        from . import receivers

        # The repository's dataset events keep the DOIs in step (publishing.receivers).
        receivers.connect()
        # fair/apps.py registers publishing.selectors.public_doi with fair.identifiers.
