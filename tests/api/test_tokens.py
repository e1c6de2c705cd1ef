"""Personal API tokens: hashed at rest, shown once, scoped, expiring, revocable."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from repository import tokens
from repository.models import ApiToken, Dataset, TokenScope
from tests.factories import DatasetFactory
from tests.support.api import error_of


def _client(secret: str, keyword: str = "Token") -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{keyword} {secret}")
    return client


def _create_payload(world) -> dict[str, object]:
    return {"title": "Session 42", "facility": world.facility.slug, "technique": "spa"}


def test_only_the_hash_is_stored(world):
    token, secret = tokens.token_create(user=world["staff"], name="gpu01", scope=TokenScope.READ)

    stored = ApiToken.objects.filter(pk=token.pk).values().get()
    assert stored["token_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert all(secret not in str(value) for value in stored.values())
    assert secret.startswith(stored["prefix"]) and len(stored["prefix"]) == 12
    assert len(secret) > 40  # 256 random bits, url-safe


def test_created_secret_is_shown_once_through_the_api(world):
    staff = world["staff"]
    client = APIClient()
    client.force_login(staff)

    created = client.post("/api/v1/tokens/", {"name": "laptop CLI", "scope": "read"})
    listed = client.get("/api/v1/tokens/")
    detail = client.get(f"/api/v1/tokens/{created.json()['id']}/")

    assert created.status_code == 201
    assert created["Cache-Control"] == "no-store"
    secret = created.json()["secret"]
    assert _client(secret).get("/api/v1/tokens/").json()["results"][0]["name"] == "laptop CLI"
    assert secret not in listed.content.decode()
    assert secret not in detail.content.decode()
    assert "secret" not in detail.json()
    assert listed.json()["results"][0]["prefix"] == secret[:12]


def test_both_authorization_keywords_authenticate(world):
    _token, secret = tokens.token_create(user=world["member"], name="x")
    for keyword in ("Token", "Bearer", "bearer"):
        response = _client(secret, keyword).get("/api/v1/tokens/")
        assert response.status_code == 200, keyword
        assert response.json()["count"] == 1


def test_read_scope_cannot_write(world):
    token, secret = tokens.token_create(user=world["staff"], name="ro", scope=TokenScope.READ)
    client = _client(secret)

    read = client.get("/api/v1/datasets/")
    write = client.post("/api/v1/datasets/", _create_payload(world), format="json")
    revoke = client.delete(f"/api/v1/tokens/{token.pk}/")

    assert revoke.status_code == 403
    assert error_of(revoke)["code"] == "token_read_only"

    assert read.status_code == 200
    assert write.status_code == 403
    error = error_of(write)
    assert error["code"] == "token_read_only"
    assert "read_write" in error["message"]
    assert not Dataset.objects.filter(title="Session 42").exists()


def test_read_write_scope_can_write(world):
    _token, secret = tokens.token_create(
        user=world["staff"], name="rw", scope=TokenScope.READ_WRITE
    )

    response = _client(secret).post("/api/v1/datasets/", _create_payload(world), format="json")

    assert response.status_code == 201
    assert Dataset.objects.get(pid=response.json()["pid"]).owner == world["staff"]


def test_expired_token_is_refused_with_a_clear_message(world):
    token, secret = tokens.token_create(
        user=world["staff"], name="short", expires_at=timezone.now() + dt.timedelta(hours=1)
    )
    assert _client(secret).get("/api/v1/tokens/").status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - dt.timedelta(days=1))

    response = _client(secret).get("/api/v1/datasets/")

    assert response.status_code == 401
    error = error_of(response)
    assert error["code"] == "authentication_failed"
    assert "expired" in error["message"]
    assert response["WWW-Authenticate"].startswith("Token")


def test_revoked_token_is_refused(world):
    token, secret = tokens.token_create(user=world["staff"], name="leaked", scope="read_write")
    client = _client(secret)

    revoke = client.delete(f"/api/v1/tokens/{token.pk}/")  # a token may revoke itself
    after = client.get("/api/v1/datasets/")

    assert revoke.status_code == 204
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert after.status_code == 401
    assert "revoked" in error_of(after)["message"]


def test_unknown_and_malformed_tokens_are_refused(world):
    unknown = _client("oem_notarealtoken").get("/api/v1/datasets/")
    malformed = _client("two words").get("/api/v1/datasets/")

    assert unknown.status_code == 401
    assert "not known" in error_of(unknown)["message"]
    assert malformed.status_code == 401
    assert "malformed" in error_of(malformed)["message"]


def test_token_of_a_disabled_account_is_refused(world):
    _token, secret = tokens.token_create(user=world["staff"], name="x")
    world["staff"].is_active = False
    world["staff"].save()

    response = _client(secret).get("/api/v1/datasets/")

    assert response.status_code == 401
    assert "disabled" in error_of(response)["message"]


def test_a_token_cannot_create_tokens(world):
    _token, secret = tokens.token_create(
        user=world["staff"], name="rw", scope=TokenScope.READ_WRITE
    )

    response = _client(secret).post("/api/v1/tokens/", {"name": "child"}, format="json")

    assert response.status_code == 403
    assert "profile page" in error_of(response)["message"]
    assert ApiToken.objects.filter(user=world["staff"]).count() == 1


def test_tokens_of_others_are_invisible_and_cannot_be_revoked(world):
    theirs, _secret = tokens.token_create(user=world["curator"], name="theirs")
    client = APIClient()
    client.force_login(world["staff"])

    listed = client.get("/api/v1/tokens/")
    revoke = client.delete(f"/api/v1/tokens/{theirs.pk}/")

    assert listed.json()["count"] == 0
    assert revoke.status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_last_use_is_recorded(world):
    token, secret = tokens.token_create(user=world["staff"], name="x")
    assert token.last_used_at is None

    _client(secret).get("/api/v1/datasets/")

    token.refresh_from_db()
    assert token.last_used_at is not None
    assert timezone.now() - token.last_used_at < dt.timedelta(minutes=1)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x", "scope": "admin"}, "scope"),
        ({"name": "x", "expires_at": "2001-01-01T00:00:00Z"}, None),
    ],
)
def test_invalid_token_requests_say_what_is_wrong(world, payload, field):
    client = APIClient()
    client.force_login(world["staff"])

    response = client.post("/api/v1/tokens/", payload, format="json")

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "validation_failed"
    if field:
        assert field in error["details"]
    else:
        assert "future" in error["message"]


def test_anonymous_requests_cannot_list_tokens(world):
    response = APIClient().get("/api/v1/tokens/")
    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"


# --- the profile page ------------------------------------------------------------------------


def test_profile_page_creates_a_token_and_shows_the_secret_once(world, client):
    client.force_login(world["member"])

    created = client.post(
        "/accounts/profile/",
        {"action": "create", "name": "notebook", "scope": "read", "expires_on": ""},
    )
    token = ApiToken.objects.get(user=world["member"])
    secret = created.context["new_secret"]
    page_again = client.get("/accounts/profile/")

    assert created.status_code == 200
    assert secret in created.content.decode()
    assert "no-store" in created["Cache-Control"]
    assert tokens.token_authenticate(secret) == token
    assert secret not in page_again.content.decode()
    assert token.prefix in page_again.content.decode()
    # The secret has a copy button; the token table is styled; Revoke is not the primary action.
    html = created.content.decode()
    assert f'id="new-token-secret" data-testid="new-token-secret">{secret}</code>' in html
    assert 'data-copy="#new-token-secret">Copy</button>' in html
    assert '<table class="data tokens">' in page_again.content.decode()
    assert '<button type="submit" class="secondary small">Revoke</button>' in html


def test_profile_page_sets_expiry_and_scope(world, client):
    client.force_login(world["member"])
    day = timezone.localdate() + dt.timedelta(days=30)

    client.post(
        "/accounts/profile/",
        {"action": "create", "name": "month", "scope": "read_write", "expires_on": day.isoformat()},
    )

    token = ApiToken.objects.get(user=world["member"])
    assert token.scope == TokenScope.READ_WRITE
    assert timezone.localtime(token.expires_at).date() == day + dt.timedelta(days=1)


def test_profile_page_revokes_only_own_tokens(world, client):
    mine, _ = tokens.token_create(user=world["member"], name="mine")
    theirs, _ = tokens.token_create(user=world["stranger"], name="theirs")
    client.force_login(world["member"])

    client.post("/accounts/profile/", {"action": "revoke", "token_id": str(mine.pk)})
    refused = client.post(
        "/accounts/profile/", {"action": "revoke", "token_id": str(theirs.pk)}, follow=True
    )

    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.revoked_at is not None
    assert theirs.revoked_at is None
    assert "not yours" in refused.content.decode()


def test_profile_page_needs_a_login(db, client):
    response = client.get("/accounts/profile/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_dataset_created_with_a_token_is_the_token_owners(world):
    _token, secret = tokens.token_create(user=world["curator"], name="rw", scope="read_write")
    DatasetFactory(facility=world.facility)  # noise

    response = _client(secret, "Bearer").post(
        "/api/v1/datasets/", _create_payload(world), format="json"
    )

    assert response.status_code == 201
    assert Dataset.objects.get(pid=response.json()["pid"]).owner == world["curator"]


def test_the_api_scope_names_are_the_token_scopes():
    # openem.api's permission knows the scopes by name; repository's tokens hold them.
    from openem.api import authentication

    names = {authentication.READ, authentication.READ_WRITE, authentication.FACILITY_UPLOAD}
    assert names == set(TokenScope.values)
