from django.apps import AppConfig


class DepositionConfig(AppConfig):
    name = "deposition"
    verbose_name = "Deposition (EMPIAR, EMDB)"
