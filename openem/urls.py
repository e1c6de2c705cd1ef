from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from openem.health import health
from openem.metrics import metrics
from repository import account_views

urlpatterns = [
    path("", include("repository.urls")),  # home, search, landing pages, downloads
    path("upload/", include("ingest.urls")),  # new session, browser upload, ingest status
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/profile/", account_views.profile, name="profile"),
    # Sign-in with OpenID Connect (edu-ID, ORCID): /accounts/oidc/<provider>/login/[callback/];
    # allauth's social pages and the few account URLs they name (accounts/allauth_urls.py).
    path("accounts/", include("accounts.allauth_urls")),
    path("", include("accounts.urls")),  # sign-in methods, people and access, invitations
    path("api/", include("openem.api.urls")),  # /api/v1/, /api/schema/, /api/docs/, /api/redoc/
    path("admin/", admin.site.urls),
    path("health/", health, name="health"),  # database, Redis, storage, worker: 200 or 503
    path("metrics", metrics, name="metrics"),  # Prometheus, with OPENEM_METRICS_TOKEN only
    path("", include("deposition.urls")),  # deposition pages, /api/v1/datasets/<pid>/depositions/
    path("", include("fair.urls")),  # DataCite XML/JSON, OAI-PMH, sitemap, exports
    path("", include("stats.urls")),  # /stats/: coverage dashboard, charts, CSV/JSON
    path("", include("publishing.urls")),  # DOI registration retry (curators)
]

# Under /api/ these answer in the API's JSON error shape; elsewhere the portal's pages.
handler403 = "openem.api.exceptions.permission_denied"
handler404 = "openem.api.exceptions.page_not_found"
handler500 = "openem.api.exceptions.server_error"
