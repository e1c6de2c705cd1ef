"""A verified ORCID iD (linked by signing in with ORCID) is offered in the authors' ORCID
fields of the metadata form, and only for a user who has one."""

from __future__ import annotations

from typing import Any

import pytest
from allauth.socialaccount.models import SocialAccount
from django.test import Client

from metadata import registry
from repository.models import DatasetStatus, Visibility
from tests.factories import DatasetFactory
from tests.support.oidc import ORCID_ID, oidc_apps

pytestmark = pytest.mark.django_db


def test_the_metadata_form_offers_the_verified_orcid(
    client: Client, world: Any, settings: Any
) -> None:
    settings.SOCIALACCOUNT_PROVIDERS = oidc_apps("http://127.0.0.1:9")
    registry.schema_load_builtins()
    dataset = DatasetFactory(
        facility=world.facility,
        owner=world["staff"],
        status=DatasetStatus.READY,
        visibility=Visibility.PRIVATE,
        metadata={},
    )
    url = dataset.get_absolute_url() + "metadata/edit"
    client.force_login(world["staff"])
    page = client.get(url).content.decode()
    assert "data-verified-orcid" not in page and 'list="verified-orcid"' not in page

    SocialAccount.objects.create(user=world["staff"], provider="orcid", uid=ORCID_ID)
    page = client.get(url).content.decode()
    assert f"<code>{ORCID_ID}</code> is verified" in page
    assert f'<option value="{ORCID_ID}"' in page
    assert 'name="organizational.authors[0].orcid" value="" list="verified-orcid"' in page
