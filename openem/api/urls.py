"""The API's URLs: ``/api/v1/`` (every app's endpoints, in the ``api`` namespace), the OpenAPI
schema and its two viewers, served from drf-spectacular-sidecar (no CDN)."""

from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from .versions import ApiRootView

# One line per app; their URL names share the "api" namespace (reverse("api:dataset-list")).
v1_urlpatterns: list[URLPattern | URLResolver] = [
    path("", ApiRootView.as_view(), name="root"),  # the API version and the oldest client
    path("", include("repository.api.urls")),
    path("", include("ingest.api_urls")),
    path("", include("metadata.api_urls")),
    path("", include("stats.api_urls")),
    path("", include("accounts.api_urls")),  # people: staff, curators, members, invitations
]

urlpatterns = [
    path("v1/", include((v1_urlpatterns, "api"), namespace="api")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
]
