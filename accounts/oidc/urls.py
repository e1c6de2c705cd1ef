"""``/accounts/oidc/<provider>/login/`` and ``.../login/callback/`` (the redirect URI to
register with the provider). allauth.urls includes this module for the provider class."""

from allauth.socialaccount import app_settings
from django.urls import URLPattern, URLResolver, include, path, re_path

from . import views

urlpatterns: list[URLPattern | URLResolver] = [
    re_path(
        r"^(?P<provider_id>[^/]+)/",
        include(
            [
                path("login/", views.login, name="openid_connect_login"),
                path("login/callback/", views.callback, name="openid_connect_callback"),
            ]
        ),
    )
]
if app_settings.OPENID_CONNECT_URL_PREFIX:
    urlpatterns = [path(f"{app_settings.OPENID_CONNECT_URL_PREFIX}/", include(urlpatterns))]
