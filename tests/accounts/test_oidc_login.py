"""Signing in with OpenID Connect against a real provider process (tests/support/oidc.py):
the portal's side runs in Django's test client, the provider answers over HTTP on loopback."""

from __future__ import annotations

from typing import Any

import pytest
from allauth.socialaccount.models import SocialAccount
from django.contrib.auth import get_user_model
from django.test import Client

from accounts import selectors
from accounts.models import AccessRequest, FacilitySignupRule
from repository.models import AuditAction, AuditEvent, FacilityMembership, ProjectMembership
from tests.support.oidc import ORCID_ID, OIDCServer, path_of, query

pytestmark = pytest.mark.django_db

User = get_user_model()


def start(client: Client, provider: str = "eduid", process: str = "login") -> str:
    """Press "Sign in with ..." (a POST): the portal redirects to the provider."""
    response = client.post(f"/accounts/oidc/{provider}/login/?process={process}")
    assert response.status_code == 302, response.content
    return str(response["Location"])


def sign_in(client: Client, server: OIDCServer, sub: str, provider: str = "eduid") -> Any:
    callback = server.authorize(start(client, provider), sub)
    return client.get(path_of(callback))


def signed_in_user(client: Client) -> Any:
    return client.get("/accounts/profile/").wsgi_request.user


def assert_failed(response: Any, text: str) -> None:
    assert response.status_code == 400, response.content
    page = response.content.decode()
    assert "Sign-in failed" in page
    assert text in page
    assert "Traceback" not in page


def test_first_sign_in_with_edu_id_creates_an_account_with_no_rights(
    client: Client, providers: OIDCServer, world: Any
) -> None:
    providers.set_user(
        "pairwise-1", {"email": "ada@unibas.ch", "given_name": "Ada", "family_name": "Lovelace"}
    )
    authorize = start(client)
    params = query(authorize)
    assert params["code_challenge_method"] == "S256" and params["code_challenge"]
    assert set(params["scope"].split()) == {"openid", "profile", "email", "swissEduIDBase"}
    response = client.get(path_of(providers.authorize(authorize, "pairwise-1")))
    assert response.status_code == 302

    user = User.objects.get(email="ada@unibas.ch")
    assert signed_in_user(client) == user
    assert (user.first_name, user.last_name) == ("Ada", "Lovelace")
    assert not user.is_staff and not user.is_superuser and not user.has_usable_password()
    assert not FacilityMembership.objects.filter(user=user).exists()
    assert not ProjectMembership.objects.filter(user=user).exists()
    assert SocialAccount.objects.get(user=user).uid == "pairwise-1"
    event = AuditEvent.objects.get(action=AuditAction.ACCESS, target_id=str(user.pk))
    assert event.details["change"] == "account_created" and event.details["provider"] == "eduid"

    # the next sign-in finds the same account
    client.logout()
    sign_in(client, providers, "pairwise-1")
    assert signed_in_user(client) == user
    assert User.objects.filter(email="ada@unibas.ch").count() == 1


def test_a_facility_rule_makes_only_a_pending_request(
    client: Client, providers: OIDCServer, world: Any
) -> None:
    FacilitySignupRule.objects.create(facility=world.facility, email_domain="unibas.ch")
    FacilitySignupRule.objects.create(
        facility=world.other_facility, affiliation="staff@ethz.ch", role="curator"
    )
    providers.set_user(
        "pairwise-2",
        {"email": "grace@biozentrum.unibas.ch", "swissEduIDLinkedAffiliation": ["staff@ethz.ch"]},
    )
    sign_in(client, providers, "pairwise-2")
    user = User.objects.get(email="grace@biozentrum.unibas.ch")
    requests = {(r.facility.slug, r.role, r.state) for r in AccessRequest.objects.filter(user=user)}
    assert requests == {("basel", "staff", "pending"), ("scopem", "curator", "pending")}
    assert not FacilityMembership.objects.filter(user=user).exists()


def test_wrong_state_is_refused(client: Client, providers: OIDCServer) -> None:
    callback = providers.authorize(start(client), "pairwise-3")
    params = query(callback)
    response = client.get(
        f"/accounts/oidc/eduid/login/callback/?code={params['code']}&state=not-ours"
    )
    assert_failed(response, "state does not match")
    assert not User.objects.exists()
    assert not signed_in_user(client).is_authenticated


def test_a_replayed_code_is_refused(client: Client, providers: OIDCServer) -> None:
    providers.set_user("pairwise-4", {"email": "replay@example.org"})
    callback = providers.authorize(start(client), "pairwise-4")
    assert client.get(path_of(callback)).status_code == 302
    client.logout()
    # the same answer again: its state was used up
    assert_failed(client.get(path_of(callback)), "state does not match")
    # the used code with a fresh state: the provider refuses it
    fresh_state = query(start(client))["state"]
    code = query(callback)["code"]
    response = client.get(f"/accounts/oidc/eduid/login/callback/?code={code}&state={fresh_state}")
    assert_failed(response, "expired or was used already")
    assert User.objects.count() == 1
    assert not signed_in_user(client).is_authenticated


@pytest.mark.parametrize(
    ("fault", "text"),
    [
        ("expired", "ID token has expired"),
        ("bad_signature", "not signed with the provider"),
        ("wrong_issuer", "unknown issuer"),
    ],
)
def test_a_bad_id_token_is_refused(
    client: Client, providers: OIDCServer, fault: str, text: str
) -> None:
    providers.set_user("pairwise-5", {"email": "bad-token@example.org"})
    providers.fault(fault)
    assert_failed(sign_in(client, providers, "pairwise-5"), text)
    assert not User.objects.exists() and not SocialAccount.objects.exists()
    assert not signed_in_user(client).is_authenticated


def test_no_email_claim_makes_no_account(client: Client, providers: OIDCServer) -> None:
    providers.set_user("pairwise-6", {"name": "No Mail"})
    assert_failed(sign_in(client, providers, "pairwise-6"), "did not give an e-mail address")
    assert not User.objects.exists() and not SocialAccount.objects.exists()
    assert not signed_in_user(client).is_authenticated


def test_an_address_of_an_existing_account_does_not_link_it(
    client: Client, providers: OIDCServer, world: Any
) -> None:
    providers.set_user("pairwise-7", {"email": world["member"].email})
    assert_failed(sign_in(client, providers, "pairwise-7"), "exists already")
    assert not SocialAccount.objects.exists()
    assert not signed_in_user(client).is_authenticated


def test_an_unknown_provider_is_not_found(client: Client, providers: OIDCServer) -> None:
    assert client.post("/accounts/oidc/nowhere/login/").status_code == 404
    response = client.get("/accounts/oidc/nowhere/login/callback/?code=x&state=y")
    assert response.status_code == 404
    assert "Traceback" not in response.content.decode()


def test_an_unreachable_provider_is_a_clear_error(client: Client, settings: Any) -> None:
    from tests.support.oidc import oidc_apps

    settings.SOCIALACCOUNT_PROVIDERS = oidc_apps("http://127.0.0.1:9")  # nothing listens
    response = client.post("/accounts/oidc/eduid/login/")
    assert response.status_code == 502
    assert "cannot be reached" in response.content.decode()


def test_orcid_is_linked_to_the_account_and_verified(
    client: Client, providers: OIDCServer, world: Any
) -> None:
    member = world["member"]
    assert selectors.verified_orcid(member) is None
    client.force_login(member)
    callback = providers.authorize(start(client, "orcid", process="connect"), ORCID_ID)
    response = client.get(path_of(callback))
    assert response.status_code == 302 and response["Location"] == "/account/identities/"
    assert selectors.verified_orcid(member) == ORCID_ID
    assert selectors.has_identity(member, "orcid") and not selectors.has_identity(member, "eduid")
    page = client.get("/account/identities/").content.decode()
    assert ORCID_ID in page and "Link SWITCH edu-ID" in page
    # and ORCID now signs this account in
    client.logout()
    sign_in(client, providers, ORCID_ID, provider="orcid")
    assert signed_in_user(client) == member
    assert AuditEvent.objects.filter(details__change="identity_linked").count() == 1


def test_a_sub_that_is_no_orcid_id_is_not_offered(
    client: Client, providers: OIDCServer, world: Any
) -> None:
    client.force_login(world["member"])
    client.get(
        path_of(providers.authorize(start(client, "orcid", "connect"), "0000-0002-1825-0098"))
    )
    assert SocialAccount.objects.filter(user=world["member"]).exists()
    assert selectors.verified_orcid(world["member"]) is None


def test_without_providers_only_local_login(client: Client, world: Any, settings: Any) -> None:
    settings.SOCIALACCOUNT_PROVIDERS = {"openid_connect": {"APPS": []}}
    page = client.get("/accounts/login/").content.decode()
    assert "Sign in with" not in page
    assert client.post("/accounts/oidc/eduid/login/").status_code == 404
    # nobody signs themselves up locally
    assert "closed" in client.get("/accounts/signup/").content.decode().lower()
    response = client.post(
        "/accounts/login/", {"username": "member", "password": "correct horse battery"}
    )
    assert response.status_code == 302
    assert signed_in_user(client) == world["member"]


def test_the_login_page_offers_the_providers(client: Client, providers: OIDCServer) -> None:
    page = client.get("/accounts/login/?next=/datasets/").content.decode()
    assert "Sign in with edu-ID" in page and "Sign in with ORCID" in page
    assert 'action="/accounts/oidc/eduid/login/?process=login&amp;next=/datasets/"' in page
    policy = client.get("/accounts/login/")["Content-Security-Policy"]
    assert f"form-action 'self' {providers.url}" in policy


@pytest.mark.parametrize(
    "path", ["/accounts/password/reset/", "/accounts/email/", "/accounts/login/code/"]
)
def test_allauths_local_account_pages_are_not_served(client: Client, path: str) -> None:
    assert client.get(path).status_code == 404


def test_allauths_social_pages_render_in_the_portal_layout(
    client: Client, providers: OIDCServer, world: Any
) -> None:
    client.force_login(world["member"])
    page = client.get("/accounts/3rdparty/").content.decode()
    assert 'class="site-header"' in page and "<h1>" in page
    cancelled = client.get("/accounts/3rdparty/login/cancelled/")
    assert cancelled.status_code == 200 and 'class="site-header"' in cancelled.content.decode()
