"""Who may not publish a dataset is told so (401, 403, or 404 when the dataset is not visible
to them; anonymous requests 401 first of all) before the body of a publish or visibility request is looked at: an empty or invalid
body never earns an outsider a 400 that describes a valid request. Every persona on every
visibility; the expected answer is derived from ``repository.access``."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from rest_framework.test import APIClient

from repository import access
from repository.models import Visibility
from tests.factories import DatasetFactory
from tests.support.personas import PERSONAS

VISIBILITIES = {
    "public": {"visibility": Visibility.PUBLIC},
    "embargoed": {"visibility": Visibility.EMBARGOED, "embargo_until": dt.date(2099, 1, 1)},
    "private": {"visibility": Visibility.PRIVATE},
}


@pytest.mark.parametrize("endpoint", ["visibility", "publish"])
@pytest.mark.parametrize("visibility", list(VISIBILITIES))
@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("body", [{}, {"visibility": "nonsense"}], ids=["empty", "invalid"])
def test_outsiders_are_refused_before_the_body_is_read(
    world: Any, persona: str, visibility: str, endpoint: str, body: dict[str, Any]
) -> None:
    dataset = DatasetFactory(
        facility=world.facility, project=world.project, **VISIBILITIES[visibility]
    )
    user = world[persona]
    client = APIClient()
    if user.is_authenticated:
        client.force_authenticate(user)

    response = client.post(f"/api/v1/datasets/{dataset.pid}/{endpoint}", body, format="json")

    if not user.is_authenticated:  # both endpoints need a signed-in user, first of all
        assert response.status_code == 401, response.content
    elif not access.can_view(user, dataset):
        assert response.status_code == 404, response.content
    elif not access.can_publish(user, dataset):
        assert response.status_code == 403, response.content
    else:  # entitled: now the body is checked (or, valid, acted on)
        assert response.status_code in (200, 400, 409), response.content
