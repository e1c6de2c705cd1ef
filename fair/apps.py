from django.apps import AppConfig


class FairConfig(AppConfig):
    name = "fair"
    verbose_name = "FAIR publication (DataCite, OAI-PMH, signposting, exports)"
