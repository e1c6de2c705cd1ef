"""The part of django-allauth the portal serves under ``/accounts/``: the OpenID Connect
providers' login and callback, allauth's social pages (linking, the sign-up step, "cancelled")
and the few account URLs those pages name. Not allauth's password reset, e-mail management or
login by code: local accounts (admins, the demo) are managed by admins, and local sign-up is
closed (``accounts.adapters.AccountAdapter``)."""

from allauth.account import views as account_views
from allauth.urls import build_provider_urlpatterns
from django.contrib.auth import views as auth_views
from django.urls import URLPattern, URLResolver, include, path

urlpatterns: list[URLPattern | URLResolver] = [
    # The names allauth reverses, on the portal's own login and logout views.
    path("login/", auth_views.LoginView.as_view(), name="account_login"),
    path("logout/", auth_views.LogoutView.as_view(), name="account_logout"),
    path("signup/", account_views.signup, name="account_signup"),  # says "closed"
    path("inactive/", account_views.account_inactive, name="account_inactive"),
    path("reauthenticate/", account_views.reauthenticate, name="account_reauthenticate"),
    path("3rdparty/", include("allauth.socialaccount.urls")),
    *build_provider_urlpatterns(),  # oidc/<provider>/login/ and .../login/callback/
]
