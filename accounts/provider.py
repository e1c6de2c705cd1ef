"""The OpenID Connect provider class allauth uses for every configured provider (edu-ID, ORCID,
others): allauth's, with the adapter of ``accounts.oidc`` (ID token signature always checked).

allauth's registry finds ``provider_classes`` in an installed app's ``provider`` module.
"""

from __future__ import annotations

from allauth.socialaccount.providers.openid_connect.provider import OpenIDConnectProvider

from .oidc.views import VerifyingOIDCAdapter


class PortalOIDCProvider(OpenIDConnectProvider):
    package = "accounts.oidc"  # its URLs: accounts/oidc/urls.py
    oauth2_adapter_class = VerifyingOIDCAdapter

    @property
    def kind(self) -> str:
        return str(self.app.settings.get("kind", "oidc"))


provider_classes = [PortalOIDCProvider]
