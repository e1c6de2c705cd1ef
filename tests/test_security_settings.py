"""Production settings, security headers, login throttling, sessions, CSRF and the admin.

Production is a set of environment values (README, "Production settings"); with them
``manage.py check --deploy`` reports nothing. The other tests run against the test settings,
overridden where a production value matters (HTTPS redirect behind a proxy).
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client

from repository import tokens
from repository.models import TokenScope
from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery"

PRODUCTION = {
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "OPENEM_PUBLIC_DEPLOYMENT": "true",
    "OPENEM_SITE_URL": "https://openem.example.org",
    "DJANGO_ALLOWED_HOSTS": "openem.example.org",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://openem.example.org",
    "DJANGO_SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
    "DJANGO_SECURE_HSTS_SECONDS": "31536000",
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "DJANGO_SECURE_HSTS_PRELOAD": "true",
}


def check_deploy(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("S3_", "DATABASE_URL", "CELERY_", "REDIS_", "DJANGO_", "OPENEM_"))
    }
    clean.update({"OPENEM_DATA_DIR": str(tmp_path), **env})
    return subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_reports_nothing_with_the_production_values(tmp_path):
    result = check_deploy(tmp_path, **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_check_deploy_flags_the_embedded_default(tmp_path):
    """The same check is not blind: without the production values it names what is missing."""
    result = check_deploy(tmp_path)
    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in result.stderr


def test_a_bad_proxy_header_name_stops_the_start(tmp_path):
    result = check_deploy(tmp_path, DJANGO_SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto: https")
    assert result.returncode != 0
    assert "DJANGO_SECURE_PROXY_SSL_HEADER must be a header name" in result.stderr
    assert "Traceback" not in result.stderr


def test_security_headers_on_pages_and_api(db, client):
    for url in ("/", "/datasets/", "/api/v1/datasets/", "/accounts/login/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"
        assert response["X-Frame-Options"] == "DENY"
        policy = response["Content-Security-Policy"]
        directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
        assert directives["frame-ancestors"] == "'none'"
        assert directives["object-src"] == "'none'"
        assert "'unsafe-inline'" not in directives["script-src"]
        assert "'unsafe-eval'" not in directives["script-src"]


def test_inline_scripts_carry_the_nonce_of_their_response(db, client):
    response = client.get("/api/docs/")
    nonce = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"]).group(1)
    inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", response.content.decode())
    assert inline, "Swagger UI's page has its initialising inline script"
    assert all(f'nonce="{nonce}"' in attributes for attributes in inline)
    again = client.get("/api/docs/")
    assert nonce not in again["Content-Security-Policy"]  # a fresh nonce per response


def test_redoc_loads_nothing_from_a_cdn(db, client):
    body = client.get("/api/redoc/").content.decode()
    assert "googleapis" not in body
    script = re.search(r'<script src="([^"]+redoc\.standalone\.js)"', body)
    assert script and script.group(1) == "/static/vendor/redoc/bundles/redoc.standalone.js"
    bundle = b"".join(client.get(script.group(1)).streaming_content)
    assert b"Redoc" in bundle and b"cdn.redoc.ly" not in bundle


def test_https_redirect_and_hsts_behind_a_proxy(db, client, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 31536000

    plain = client.get("/datasets/?q=x")
    behind_tls = client.get("/datasets/?q=x", HTTP_X_FORWARDED_PROTO="https")

    assert plain.status_code == 301
    assert plain["Location"] == "https://testserver/datasets/?q=x"
    assert behind_tls.status_code == 200
    assert behind_tls["Strict-Transport-Security"].startswith("max-age=31536000")


def _log_in(client: Client, username: str, password: str):
    return client.post("/accounts/login/", {"username": username, "password": password})


def test_login_brute_force_is_locked_out(db, client, settings):
    user = UserFactory(username="target")
    user.set_password(PASSWORD)
    user.save()
    bystander = UserFactory(username="bystander")
    bystander.set_password(PASSWORD)
    bystander.save()

    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = _log_in(client, "target", "wrong guess")
        assert response.status_code == 200
        assert "correct username and password" in response.content.decode()
    locked = _log_in(client, "target", "another guess")
    after = _log_in(client, "target", PASSWORD)  # even the right password now waits

    assert locked.status_code == 429
    assert "Too many failed logins" in locked.content.decode()
    assert after.status_code == 429
    assert "_auth_user_id" not in client.session
    # Another account from the same address is not locked out with it.
    other = _log_in(Client(), "bystander", PASSWORD)
    assert other.status_code == 302


def test_password_validators_refuse_weak_passwords(db):
    user = UserFactory(username="jdoe", email="jdoe@example.org")
    for weak, message in [
        ("short1", "too short"),
        ("password1234", "too common"),
        ("482910375610", "entirely numeric"),
        ("jdoe@example.org", "too similar"),
    ]:
        with pytest.raises(ValidationError) as refused:
            validate_password(weak, user)
        assert message in " ".join(refused.value.messages), weak
    validate_password("ribosome tilt series 42", user)  # a good one passes


def test_login_changes_the_session_key(db, client):
    """Session fixation: a session id planted before the login is worth nothing after it."""
    user = UserFactory(username="alice")
    user.set_password(PASSWORD)
    user.save()
    client.get("/accounts/login/")
    session = client.session
    session["planted"] = True
    session.save()
    planted_key = session.session_key

    assert _log_in(client, "alice", PASSWORD).status_code == 302

    assert client.session.session_key != planted_key
    attacker = Client()
    attacker.cookies["sessionid"] = planted_key
    assert attacker.get("/accounts/profile/").status_code == 302  # sent to the login page


def test_logout_ends_the_session_on_the_server(db, client):
    user = UserFactory(username="bob")
    client.force_login(user)
    key = client.session.session_key
    client.post("/accounts/logout/")
    replay = Client()
    replay.cookies["sessionid"] = key
    assert replay.get("/accounts/profile/").status_code == 302


def test_csrf_is_required_for_forms_and_for_session_api_writes(world):
    client = Client(enforce_csrf_checks=True)
    login_without_token = client.post("/accounts/login/", {"username": "curator", "password": "x"})
    assert login_without_token.status_code == 403

    client.force_login(world["curator"])
    api_without_token = client.post(
        "/api/v1/uploads/", {"title": "t"}, content_type="application/json"
    )
    assert api_without_token.status_code == 403
    assert "CSRF" in api_without_token.json()["error"]["message"]

    page = client.get("/accounts/profile/")
    csrf = page.cookies["csrftoken"].value if "csrftoken" in page.cookies else None
    csrf = csrf or client.cookies["csrftoken"].value
    logout = client.post("/accounts/logout/", HTTP_X_CSRFTOKEN=csrf)
    assert logout.status_code == 302
    assert "_auth_user_id" not in client.session


def test_api_tokens_are_compared_in_constant_time(db, monkeypatch):
    user = UserFactory()
    token, secret = tokens.token_create(user=user, name="ci", scope=TokenScope.READ)
    compared: list[tuple[str, str]] = []
    real = tokens.hmac.compare_digest

    def spy(a, b):
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(tokens.hmac, "compare_digest", spy)
    assert tokens.token_authenticate(secret) == token
    assert compared == [(token.token_hash, tokens.token_hash(secret))]


def test_the_admin_is_for_site_admins_only(world, client):
    site_staff = UserFactory(username="site_staff", is_staff=True, is_superuser=False)
    for user in (site_staff, world["curator"], world["staff"]):
        client.force_login(user)
        response = client.get("/admin/repository/dataset/")
        assert response.status_code == 302, user.username
        assert response["Location"].startswith("/admin/login/")
        assert "Admin</a>" not in client.get("/").content.decode()
    client.force_login(world["admin"])
    listing = client.get("/admin/repository/dataset/").content.decode()
    assert "OpenEM portal administration" in listing  # branded, not "Django administration"
    assert "Django administration" not in listing
    assert "Admin</a>" in client.get("/").content.decode()
