"""Branded error pages (404, 403 with its reason and a way back, 500), HTML and API alike."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from repository.models import DatasetStatus, Visibility
from tests.factories import DatasetFactory


def test_404_page_is_the_portals(world: Any) -> None:
    response = Client().get("/no/such/page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert 'data-error="404"' in html and 'class="site-header"' in html
    assert "There is no page at <code>/no/such/page/</code>" in html
    assert 'href="/accounts/login/?next=/no/such/page/"' in html


def test_404_of_an_unknown_dataset_says_so(world: Any) -> None:
    response = Client().get("/datasets/oem-doesnotexist/")
    assert response.status_code == 404
    assert 'class="site-header"' in response.content.decode()


def test_api_404_is_json(world: Any) -> None:
    response = Client().get("/api/v1/no-such-endpoint/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_403_page_gives_the_reason_and_a_way_back(world: Any) -> None:
    dataset = DatasetFactory(
        facility=world.facility,
        owner=world["staff"],
        status=DatasetStatus.PUBLISHED,
        visibility=Visibility.PUBLIC,
    )
    client = Client()
    client.force_login(world["stranger"])
    response = client.get(reverse("dataset-metadata-edit", kwargs={"pid": dataset.pid}))
    assert response.status_code == 403
    html = response.content.decode()
    assert 'data-error="403"' in html and 'class="site-header"' in html
    assert "Only the dataset&#x27;s owner, project and facility may edit it." in html
    assert "Signed in as <strong>stranger</strong>" in html
    assert f'href="{reverse("dataset-list")}"' in html


def test_500_page_is_branded_and_api_500_is_json(world: Any, settings: Any) -> None:
    from django.test import RequestFactory

    from openem.api.exceptions import server_error

    page = server_error(RequestFactory().get("/datasets/"))
    assert page.status_code == 500
    html = page.content.decode()
    assert 'data-error="500"' in html and "has been logged" in html
    api = server_error(RequestFactory().get("/api/v1/datasets/"))
    assert api.status_code == 500
    assert b'"server_error"' in api.content


@pytest.mark.parametrize(
    "path",
    [
        "/datasets/%00/",
        "/datasets/%00/v/1/",
        "/datasets/../../etc/passwd",
        "/api/v1/datasets/%00/",
        "/api/v1/datasets/%00/usage",
    ],
)
def test_odd_paths_get_the_branded_404_not_a_traceback(world: Any, path: str) -> None:
    response = Client().get(path)
    assert response.status_code in (400, 404)
    assert b"Traceback" not in response.content
