from django.apps import AppConfig


class PublishingConfig(AppConfig):
    name = "publishing"
    verbose_name = "Publishing (DataCite DOIs)"
    # fair/apps.py registers publishing.selectors.public_doi with fair.identifiers.
