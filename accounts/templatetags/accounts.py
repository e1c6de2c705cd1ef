from django import template

from accounts.selectors import LoginProvider, login_providers

register = template.Library()


@register.simple_tag
def oidc_providers() -> list[LoginProvider]:
    return login_providers()
