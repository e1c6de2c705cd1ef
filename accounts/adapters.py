"""allauth's two hooks into the portal: local accounts are made by admins only (no sign-up
form); a first sign-in with a provider makes an account with no rights, if the provider
gave an e-mail address that no account uses yet. Every failure ends on one clear page."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialLogin
from django.contrib.auth import get_user_model
from django.http import HttpRequest
from django.urls import reverse

from . import errors, services


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return False  # local accounts: the Django admin and the demo; people use a provider


def _email_of(sociallogin: SocialLogin) -> str:
    user = sociallogin.user
    email = (getattr(user, "email", "") or "").strip()
    if not email and sociallogin.email_addresses:
        email = sociallogin.email_addresses[0].email
    return email


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest, sociallogin: SocialLogin) -> bool:
        return True

    def pre_social_login(self, request: HttpRequest, sociallogin: SocialLogin) -> None:
        if sociallogin.is_existing or sociallogin.state.get("process") == "connect":
            return
        provider = sociallogin.account.get_provider().name
        email = _email_of(sociallogin)
        if not email:
            raise ImmediateHttpResponse(
                errors.login_failed(
                    request,
                    f"{provider} did not give an e-mail address, and a new account needs one. "
                    "Nobody was signed in and no account was made. If you have an account "
                    "here, sign in with it and link this identity on your profile page.",
                    provider=provider,
                )
            )
        if get_user_model().objects.filter(email__iexact=email).exists():
            raise ImmediateHttpResponse(
                errors.login_failed(
                    request,
                    f"An account with the address {email} exists already. Sign in with it "
                    f"and link {provider} on your profile page (an e-mail address never "
                    "links accounts by itself).",
                    provider=provider,
                )
            )

    def save_user(self, request: HttpRequest, sociallogin: SocialLogin, form: Any = None) -> Any:
        user = super().save_user(request, sociallogin, form)
        services.account_signed_up(user=user, social_account=sociallogin.account)
        return user

    def on_authentication_error(
        self,
        request: HttpRequest,
        provider: Any,
        error: Any = None,
        exception: Any = None,
        extra_context: Any = None,
    ) -> None:
        reason = errors.reason_for(error, exception, extra_context or {})
        name = getattr(provider, "name", "") if provider else ""
        raise ImmediateHttpResponse(errors.login_failed(request, reason, provider=name))

    def get_connect_redirect_url(self, request: HttpRequest, socialaccount: Any) -> str:
        return reverse("accounts:identities")
