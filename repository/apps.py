from django.apps import AppConfig


class RepositoryConfig(AppConfig):
    name = "repository"
    verbose_name = "Repository"

    def ready(self) -> None:
        from openem.api.throttling import register_staff_check

        from . import access

        # Facility staff and curators get the API's staff and upload rates.
        register_staff_check(access.is_facility_member)
