from django.apps import AppConfig, apps


class FairConfig(AppConfig):
    name = "fair"
    verbose_name = "FAIR publication (DataCite, OAI-PMH, signposting, exports)"

    def ready(self) -> None:
        # The DOI provider says which DOI a dataset or version cites as, once DataCite has it.
        if apps.is_installed("publishing"):
            from publishing.selectors import public_doi

            from .identifiers import register_doi_lookup

            register_doi_lookup(public_doi)
