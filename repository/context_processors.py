from django.conf import settings
from django.http import HttpRequest


def portal(request: HttpRequest) -> dict[str, object]:
    return {"PORTAL_NAME": "OpenEM", "STORAGE_BACKEND": settings.OPENEM_STORAGE["backend"]}
