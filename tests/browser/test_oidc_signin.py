"""Sign-in with OpenID Connect (accounts/) in Chromium: "Sign in with edu-ID" against the provider process on loopback, and the issue's
done-when: a new user signs in, its PI invites them into the project, they see its private
dataset, the PI removes them, and they no longer see it. Any CSP violation fails the test."""

from __future__ import annotations

import re
from typing import Any

import pytest
from allauth.socialaccount.models import SocialAccount
from django.contrib.auth import get_user_model

from repository.models import AuditEvent, DatasetStatus, ProjectMembership, Visibility
from tests.factories import DatasetFactory
from tests.support.browser import log_in, screenshot
from tests.support.oidc import OIDCServer, oidc_server, providers  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in_with_edu_id(tab: Any, server: OIDCServer, sub: str) -> None:
    tab.goto("/accounts/login/")
    tab.get_by_role("button", name="Sign in with edu-ID").click()
    tab.wait_for_url(f"{server.url}/oauth2/authorize*")  # the provider's own page
    tab.fill("input[name=sub]", sub)
    tab.get_by_role("button", name="Authorize").click()
    tab.wait_for_url(re.compile(r"^http://(localhost|127\.0\.0\.1):\d+/(?!accounts/oidc)"))
    assert tab.locator(".account .who").count() == 1, tab.content()


def test_sign_in_with_edu_id_in_chromium_creates_the_account(
    page: Any,
    providers: OIDCServer,  # noqa: F811
    world: Any,
) -> None:
    providers.set_user("e2e-new", {"email": "new.person@unibas.ch", "name": "New Person"})
    sign_in_with_edu_id(page, providers, "e2e-new")
    user = get_user_model().objects.get(email="new.person@unibas.ch")
    assert page.locator(".account .who").inner_text() == "New Person"
    assert SocialAccount.objects.get(user=user, provider="eduid").uid == "e2e-new"
    screenshot(page, "60-signed-in-with-edu-id")


def test_a_failed_sign_in_in_chromium_ends_on_the_error_page(
    page: Any,
    providers: OIDCServer,  # noqa: F811
) -> None:
    providers.set_user("e2e-expired", {"email": "expired@example.org"})
    providers.fault("expired")
    page.goto("/accounts/login/")
    page.get_by_role("button", name="Sign in with edu-ID").click()
    page.fill("input[name=sub]", "e2e-expired")
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_selector("[data-error=login]")
    assert "ID token has expired" in page.inner_text("[data-error-message]")
    assert page.locator(".account .who").count() == 0
    assert not get_user_model().objects.filter(email="expired@example.org").exists()


def test_done_when_invited_by_the_pi_sees_the_private_dataset_until_removed(
    browser: Any,
    page: Any,
    live_server: Any,
    providers: OIDCServer,  # noqa: F811
    world: Any,
    mailoutbox: Any,
) -> None:
    dataset = DatasetFactory(
        title="Unpublished ribosome session",
        facility=world.facility,
        project=world.project,
        owner=world["staff"],
        visibility=Visibility.PRIVATE,
        status=DatasetStatus.READY,
    )
    # 1. a new person signs in with edu-ID: an account with no rights, the dataset is hidden
    providers.set_user("e2e-invitee", {"email": "invitee@unibas.ch", "name": "Invited Person"})
    sign_in_with_edu_id(page, providers, "e2e-invitee")
    invitee = get_user_model().objects.get(email="invitee@unibas.ch")
    assert page.goto(dataset.get_absolute_url()).status == 404

    # 2. the project's PI (a local account) invites them by e-mail
    pi_context = browser.new_context(base_url=live_server.url)
    pi = pi_context.new_page()
    log_in(pi, "pi")
    pi.goto(f"/people/projects/{world.project.code}/")
    pi.fill("input[name=email]", "invitee@unibas.ch")
    pi.get_by_role("button", name="Send invitation").click()
    pi.wait_for_selector(".messages .success")
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["invitee@unibas.ch"]
    link = re.search(r"https?://\S+/invitations/\S+/", mailoutbox[0].body)
    assert link, mailoutbox[0].body

    # 3. they follow the link, accept, and see the project's private dataset
    page.goto(link.group(0))
    page.get_by_test_id("accept-invitation").click()
    page.wait_for_selector(".messages .success")
    assert ProjectMembership.objects.filter(user=invitee, project=world.project).exists()
    assert page.goto(dataset.get_absolute_url()).status == 200
    assert "Unpublished ribosome session" in page.inner_text("h1")
    screenshot(page, "61-invitee-sees-private-dataset")

    # 4. the PI sees who has access, and removes them
    pi.goto("/people/")
    assert invitee.username in pi.inner_text(f"[data-project={world.project.code}]")
    pi.goto(f"/people/projects/{world.project.code}/")
    pi.get_by_test_id(f"remove-{invitee.username}").click()
    pi.wait_for_selector(".messages .success")
    screenshot(pi, "62-pi-removed-member")
    pi_context.close()

    # 5. the dataset is hidden from them again; every step is in the audit trail
    assert page.goto(dataset.get_absolute_url()).status == 404
    changes = list(
        AuditEvent.objects.filter(action="access")
        .order_by("created")
        .values_list("details__change", flat=True)
    )
    assert changes == ["account_created", "invited", "invitation_accepted", "member_removed"]
