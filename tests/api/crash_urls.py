"""A URLconf for tests/api/test_errors.py: the API plus views that fail on purpose."""

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import include, path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from openem.errors import Conflict


class Failing(APIView):
    def get(self, request: Request, kind: str) -> Response:
        if kind == "crash":
            raise RuntimeError("secret internals /srv/openem/settings.py line 42")
        if kind == "django-404":
            raise Http404("No such thing here.")
        if kind == "django-403":
            raise PermissionDenied("not for you")
        if kind == "domain":
            raise Conflict("the dataset is being ingested", details={"state": "ingesting"})
        return Response({})


def plain_crash(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("secret internals outside DRF")


urlpatterns = [
    path("api/v1/_test/<str:kind>/", Failing.as_view()),
    path("api/v1/_plain_crash/", plain_crash),
    path("elsewhere/_plain_crash/", plain_crash),
    path("api/", include("openem.api.urls")),
]

handler404 = "openem.api.exceptions.page_not_found"
handler500 = "openem.api.exceptions.server_error"
