from typing import Any

from django import template

from accounts.selectors import LoginProvider, login_providers, verified_orcid

register = template.Library()


@register.simple_tag
def oidc_providers() -> list[LoginProvider]:
    return login_providers()


@register.simple_tag
def verified_orcid_of(user: Any) -> str | None:
    """The ORCID iD ``user`` signed in with, offered when they name themselves a creator."""
    return verified_orcid(user)
