import contextlib

from django.apps import AppConfig


class PublishingConfig(AppConfig):
    name = "publishing"
    verbose_name = "Publishing (DataCite DOIs)"

    def ready(self) -> None:
        # fair.identifiers (signposting, content negotiation, exports) asks its registered
        # lookups which DOI a dataset or version is cited by; absent, fair.records asks us.
        with contextlib.suppress(ImportError):
            from fair import identifiers  # type: ignore[attr-defined,unused-ignore]

            from .selectors import public_doi

            identifiers.register_doi_lookup(public_doi)
