"""Login and callback views of the OpenID Connect providers, with one change to allauth's: the
ID token's signature is always verified against the provider's JWKS.

allauth skips that check when the token came straight from the token endpoint over TLS (which
OpenID Connect Core allows); the portal checks it anyway, so that a token endpoint answering
with a token the provider's keys did not sign (a misconfigured proxy, a wrong discovery URL)
never logs anyone in. Issuer, audience and expiry are checked by allauth either way.
"""

from __future__ import annotations

from typing import Any

import jwt
from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.internal import jwtkit
from allauth.socialaccount.models import SocialApp
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView, OAuth2LoginView
from allauth.socialaccount.providers.openid_connect.views import OpenIDConnectOAuth2Adapter
from django.http import Http404, HttpRequest, HttpResponse
from requests import RequestException

from accounts.errors import provider_unreachable

ALGORITHMS = {"RS256", "RS384", "RS512", "PS256", "ES256", "ES384"}


def _signing_key(id_token: str, keys_url: str) -> tuple[str, Any]:
    """The provider's public key for ``id_token``: the JWKS entry with its ``kid``, or the
    only signing key when the token names none (allowed when the provider has one key)."""
    header = jwt.get_unverified_header(id_token)
    alg = header.get("alg", "")
    if alg not in ALGORITHMS:
        raise OAuth2Error(f"ID token signed with {alg!r}, not one of {sorted(ALGORITHMS)}")
    with get_adapter().get_requests_session() as session:
        response = session.get(keys_url)
        response.raise_for_status()
        keys = [k for k in response.json().get("keys", []) if k.get("use", "sig") == "sig"]
    kid = header.get("kid")
    found = [k for k in keys if k.get("kid") == kid] if kid else keys
    if len(found) != 1:
        raise OAuth2Error(f"no single key of the provider has the ID token's kid {kid!r}")
    return alg, jwt.PyJWK(found[0], algorithm=alg).key


class VerifyingOIDCAdapter(OpenIDConnectOAuth2Adapter):
    def _decode_id_token(self, app: SocialApp, id_token: str) -> dict[str, Any]:
        try:
            alg, key = _signing_key(id_token, self.openid_config["jwks_uri"])
            data: dict[str, Any] = jwt.decode(
                id_token,
                key=key,
                algorithms=[alg],
                issuer=self.openid_config["issuer"],
                audience=app.client_id,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
                leeway=30,
            )
            jwtkit.verify_jti(data)
        except jwt.PyJWTError as exc:
            raise OAuth2Error("Invalid id_token") from exc
        except (KeyError, ValueError, TypeError) as exc:
            raise OAuth2Error(f"Invalid id_token: {exc}") from exc
        return data


def login(request: HttpRequest, provider_id: str) -> HttpResponse:
    try:
        view = OAuth2LoginView.adapter_view(VerifyingOIDCAdapter(request, provider_id))
        return view(request)  # type: ignore[no-any-return]
    except SocialApp.DoesNotExist:
        raise Http404(f"No sign-in provider {provider_id!r} is configured here.") from None
    except RequestException:
        return provider_unreachable(request, provider_id)


def callback(request: HttpRequest, provider_id: str) -> HttpResponse:
    try:
        view = OAuth2CallbackView.adapter_view(VerifyingOIDCAdapter(request, provider_id))
        return view(request)  # type: ignore[no-any-return]
    except SocialApp.DoesNotExist:
        raise Http404(f"No sign-in provider {provider_id!r} is configured here.") from None
    except RequestException:
        return provider_unreachable(request, provider_id)
