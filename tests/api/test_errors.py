"""One error shape for every failure, and throttling."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from django.urls import URLResolver, get_resolver
from rest_framework.test import APIClient
from rest_framework.views import APIView

from ingest.uploads import upload_session_create
from openem.api.views import ApiView
from repository import tokens
from repository.models import Visibility
from repository.services import dataset_create
from tests.factories import DatasetFactory
from tests.support.api import error_of

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture
def public_dataset(world):
    return DatasetFactory(facility=world.facility, visibility=Visibility.PUBLIC)


def test_400_401_403_404_405_share_one_shape(world, public_dataset):
    staff = APIClient()
    staff.force_login(world["staff"])
    bad_token = APIClient()
    bad_token.credentials(HTTP_AUTHORIZATION="Bearer oem_wrong")

    cases = {
        400: APIClient().get("/api/v1/datasets/", {"status": "lost"}),
        401: bad_token.get("/api/v1/datasets/"),
        403: staff.post(f"/api/v1/datasets/{public_dataset.pid}/publish", {}, format="json"),
        404: APIClient().get("/api/v1/datasets/oem-0000000000/"),
        405: APIClient().put("/api/v1/datasets/", {}, format="json"),
    }

    codes = {status: error_of(response)["code"] for status, response in cases.items()}
    assert {status: r.status_code for status, r in cases.items()} == {s: s for s in cases}
    assert codes == {
        400: "validation_failed",
        401: "authentication_failed",
        403: "permission_denied",
        404: "not_found",
        405: "method_not_allowed",
    }
    assert cases[400].json()["error"]["details"] == {"status": ['"lost" is not a valid choice.']}
    assert "curators" in cases[403].json()["error"]["message"]
    assert "PUT" in cases[405].json()["error"]["message"]
    assert "GET" in cases[405]["Allow"]


def test_malformed_json_body_is_400(world):
    client = APIClient()
    client.force_login(world["staff"])
    response = client.post("/api/v1/datasets/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert error_of(response)["code"] == "parse_error"


def test_form_with_too_many_fields_is_400_not_500(world, settings):
    # Found by the fuzz test: a multipart form of 1,001 fields made Django's parser raise
    # TooManyFieldsSent (a SuspiciousOperation), which reached the API as an unhandled 500.
    client = APIClient()
    client.force_login(world["staff"])
    fields = "&".join(["keywords=x"] * (settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))
    response = client.post(
        "/api/v1/datasets/", fields, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "parse_error"
    assert "too many fields" in error["message"]


def test_form_body_over_the_memory_limit_is_413(world, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    client = APIClient()
    client.force_login(world["staff"])
    response = client.post(
        "/api/v1/datasets/", "title=" + "x" * 2000, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 413
    error = error_of(response)
    assert error["code"] == "request_too_large"
    assert "1000 bytes" in error["message"]


def test_unknown_api_url_is_json_404(db):
    response = Client().get("/api/v1/no-such-endpoint/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert "/api/v1/no-such-endpoint/" in error_of(response)["message"]


def test_unknown_page_outside_the_api_stays_html(db):
    response = Client().get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.urls("tests.api.crash_urls")
def test_unexpected_error_in_an_api_view_is_a_500_without_internals(db, caplog):
    response = APIClient(raise_request_exception=False).get("/api/v1/_test/crash/")

    assert response.status_code == 500
    error = error_of(response)
    assert error["code"] == "server_error"
    assert "secret internals" not in response.content.decode()
    assert "secret internals" in caplog.text  # logged for the operators


@pytest.mark.urls("tests.api.crash_urls")
def test_crash_outside_drf_under_api_is_json(db):
    client = Client(raise_request_exception=False)

    api = client.get("/api/v1/_plain_crash/")
    page = client.get("/elsewhere/_plain_crash/")

    assert api.status_code == 500
    assert error_of(api)["code"] == "server_error"
    assert "secret internals" not in api.content.decode()
    assert page.status_code == 500
    assert page["Content-Type"].startswith("text/html")


@pytest.mark.urls("tests.api.crash_urls")
@pytest.mark.parametrize(
    ("kind", "status", "code", "message"),
    [
        ("django-404", 404, "not_found", "no such thing here."),
        ("django-403", 403, "permission_denied", "not for you"),
        ("domain", 409, "conflict", "the dataset is being ingested"),
    ],
)
def test_django_and_domain_exceptions_are_mapped(db, kind, status, code, message):
    response = APIClient().get(f"/api/v1/_test/{kind}/")
    assert response.status_code == status
    error = error_of(response)
    assert (error["code"], error["message"]) == (code, message)
    if kind == "domain":
        assert error["details"] == {"state": "ingesting"}


# --- throttling ---------------------------------------------------------------------------------


@pytest.fixture
def low_rates(settings):
    def apply(**rates: str | None) -> None:
        defaults = {"anon": "3/minute", "user": "3/minute", "facility_staff": "6/minute"}
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {
                "manifests": "100/minute",
                "uploads": "100/minute",
                **defaults,
                **rates,
            },
        }

    return apply


def test_anonymous_clients_are_throttled_with_the_error_shape(world, low_rates):
    low_rates()
    client = APIClient()

    statuses = [client.get("/api/v1/datasets/").status_code for _ in range(3)]
    throttled = client.get("/api/v1/facilities/")

    assert statuses == [200, 200, 200]
    assert throttled.status_code == 429
    error = error_of(throttled)
    assert error["code"] == "throttled"
    assert 0 < error["details"]["retry_after"] <= 60
    assert int(throttled["Retry-After"]) == error["details"]["retry_after"]
    # Another address has its own allowance.
    other = APIClient(REMOTE_ADDR="192.0.2.7").get("/api/v1/datasets/")
    assert other.status_code == 200


def test_facility_staff_get_a_higher_rate_than_other_users(world, low_rates):
    low_rates()
    clients = {}
    for persona in ("stranger", "staff"):
        _token, secret = tokens.token_create(user=world[persona], name="t")
        clients[persona] = APIClient()
        clients[persona].credentials(HTTP_AUTHORIZATION=f"Token {secret}")

    stranger = [clients["stranger"].get("/api/v1/datasets/").status_code for _ in range(4)]
    staff = [clients["staff"].get("/api/v1/datasets/").status_code for _ in range(7)]

    assert stranger == [200, 200, 200, 429]
    assert staff == [200] * 6 + [429]


def test_users_are_throttled_per_user_not_per_address(world, low_rates):
    low_rates()
    first, second = APIClient(), APIClient()
    first.force_login(world["stranger"])
    second.force_login(world["member"])

    for _ in range(3):
        assert first.get("/api/v1/datasets/").status_code == 200

    assert first.get("/api/v1/datasets/").status_code == 429
    assert second.get("/api/v1/datasets/").status_code == 200


def test_manifests_have_their_own_scope(world, public_dataset, low_rates):
    low_rates(anon="100/minute", manifests="2/minute")
    client = APIClient()
    url = f"/api/v1/datasets/{public_dataset.pid}/manifest"

    statuses = [client.get(url).status_code for _ in range(3)]

    assert statuses == [200, 200, 429]
    assert error_of(client.get(url))["code"] == "throttled"
    assert client.get("/api/v1/datasets/").status_code == 200


@pytest.fixture
def upload_session(world, local_storage):
    dataset = dataset_create(
        actor=world["staff"],
        facility=world.facility,
        project=world.project,
        technique="spa",
        title="Many small files",
    )
    return upload_session_create(actor=world["staff"], dataset=dataset)


def test_upload_endpoints_give_uploaders_a_budget_of_their_own(world, upload_session, low_rates):
    # A session of 10,000 small files is 20,000-30,000 requests to the per-file endpoints:
    # at the facility_staff rate a pipeline would wait on throttling alone.
    low_rates(facility_staff="3/minute", uploads="5/minute")
    staff = APIClient()
    staff.force_login(world["staff"])
    files_url = f"/api/v1/uploads/{upload_session.pk}/files/"

    uploads = [staff.get(files_url).status_code for _ in range(6)]
    others = [staff.get("/api/v1/datasets/").status_code for _ in range(4)]

    assert uploads == [200] * 5 + [429]
    assert others == [200] * 3 + [429]  # counted apart, at the facility_staff rate


def test_upload_endpoints_are_no_way_around_the_user_rate(world, upload_session, low_rates):
    low_rates(user="3/minute", uploads="100/minute")
    member = APIClient()  # sees the dataset (project member) but may not upload
    member.force_login(world["member"])

    statuses = [
        member.get(f"/api/v1/uploads/{upload_session.pk}/files/").status_code for _ in range(2)
    ]
    statuses += [member.get("/api/v1/datasets/").status_code for _ in range(2)]

    assert statuses == [404, 404, 200, 429]


def test_default_upload_rate_lets_a_pipeline_send_10000_small_files(settings):
    # register (1,000 per request), multipart start (presigning the part) and complete, per
    # file: the default rate passes a whole session in under five minutes.
    count, _, period = settings.OPENEM_API_THROTTLE_RATES["uploads"].partition("/")
    per_second = int(count) / {"s": 1, "m": 60, "h": 3600, "d": 86400}[period[0]]
    assert per_second * 300 >= 10 + 2 * 10_000


def test_a_rate_can_be_switched_off(world, low_rates):
    low_rates(anon=None)
    client = APIClient()
    assert {client.get("/api/v1/facilities/").status_code for _ in range(10)} == {200}


def _settings_process(tmp_path, code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("S3_", "DATABASE_URL", "CELERY_", "REDIS_", "DJANGO_", "OPENEM_"))
    }
    clean.update({"OPENEM_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "openem.settings"})
    clean.update(env)
    return subprocess.run(  # noqa: S603
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_throttle_rates_come_from_the_environment(tmp_path):
    printed = _settings_process(
        tmp_path,
        "import json; from django.conf import settings; "
        "print(json.dumps(settings.REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']))",
        OPENEM_API_THROTTLE_ANON="5/hour",
        OPENEM_API_THROTTLE_FACILITY_STAFF="off",
    )
    refused = _settings_process(tmp_path, "pass", OPENEM_API_THROTTLE_USER="lots")

    assert printed.returncode == 0, printed.stderr
    rates = json.loads(printed.stdout)
    assert rates["anon"] == "5/hour"
    assert rates["facility_staff"] is None
    assert rates["user"] == "300/minute"  # the default
    assert refused.returncode != 0
    assert "OPENEM_API_THROTTLE_USER must be a rate like 120/minute" in refused.stderr


def test_embargo_date_in_the_past_is_refused(world):
    client = APIClient()
    client.force_login(world["curator"])
    dataset = DatasetFactory(facility=world.facility, visibility=Visibility.PRIVATE)
    past = (dt.date.today() - dt.timedelta(days=3)).isoformat()

    response = client.post(
        f"/api/v1/datasets/{dataset.pid}/visibility",
        {"visibility": "embargoed", "embargo_until": past},
        format="json",
    )

    assert response.status_code == 400
    assert "future" in error_of(response)["message"]


def test_every_apps_api_answers_a_missing_method_405_before_authentication(world):
    """One ApiView base (openem.api.views) for every app: an anonymous PUT or DELETE on an
    endpoint without that method is 405, not 401/403 (DRF alone checks permissions first)."""
    facility = world.facility.pk
    anonymous = APIClient()
    cases = {
        "repository": anonymous.put("/api/v1/datasets/", {}, format="json"),
        "ingest": anonymous.delete("/api/v1/uploads/"),
        "metadata": anonymous.put("/api/v1/schemas/", {}, format="json"),
        "stats": anonymous.delete("/api/v1/stats/report"),
        "accounts": anonymous.put(f"/api/v1/facilities/{facility}/people/", {}, format="json"),
        "deposition": anonymous.put("/api/v1/datasets/oem-0000000000/depositions/", {}),
    }
    assert {app: r.status_code for app, r in cases.items()} == {app: 405 for app in cases}
    assert {error_of(r)["code"] for r in cases.values()} == {"method_not_allowed"}


def _drf_views_of(patterns, prefix, found):
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            _drf_views_of(pattern.url_patterns, route, found)
        else:
            view_class = getattr(pattern.callback, "cls", None)
            if isinstance(view_class, type) and issubclass(view_class, APIView):
                found[route] = view_class
    return found


def test_every_api_view_of_the_portal_derives_from_the_one_api_view_base():
    """The 405 rule holds only where ``ApiView`` is the base: every DRF view the portal routes
    (drf-spectacular's schema and viewer pages aside) must derive from it."""
    views = _drf_views_of(get_resolver().url_patterns, "/", {})
    ours = {
        route: view
        for route, view in views.items()
        if not view.__module__.startswith("drf_spectacular")
    }
    assert len(ours) > 30  # the walk found the API's routes
    assert {route: view for route, view in ours.items() if not issubclass(view, ApiView)} == {}
