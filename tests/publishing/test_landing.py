"""DOIs on the landing pages (state, citation, retry button for curators) and in the exports."""

from __future__ import annotations

import re
from typing import Any

from django.test import Client
from lxml import etree

from publishing.models import DoiRegistration, DoiState
from repository import services, versions
from repository.models import AuditAction, AuditEvent
from tests.support.datacite import PASSWORD, PREFIX, new_dataset, publish


def test_without_datacite_the_page_says_the_pid_is_the_identifier(
    world: Any, client: Client, settings: Any
) -> None:
    settings.OPENEM_DATACITE_PREFIX = ""
    dataset = new_dataset(world)
    services.dataset_publish(actor=world["curator"], dataset=dataset)
    page = client.get(f"/datasets/{dataset.pid}/").content.decode()
    assert 'data-doi-state="not_configured"' in page
    assert "registers no DOIs" in page
    assert "doi.org" not in page.split('id="citation-text"')[1].split("</p>")[0]


def test_a_findable_doi_is_cited_on_the_pages_and_in_the_exports(
    world: Any, datacite: Any, django_capture_on_commit_callbacks: Any, client: Client
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        dataset = new_dataset(world)
    publish(world, dataset, django_capture_on_commit_callbacks)
    concept, v1 = f"{PREFIX}/{dataset.pid}", f"{PREFIX}/{dataset.pid}.v1"

    page = client.get(f"/datasets/{dataset.pid}/").content.decode()
    assert f'data-doi="{concept}" data-doi-state="findable"' in page
    assert f'data-doi="{v1}" data-doi-state="findable"' in page
    citation = re.search(r'id="citation-text">([^<]*)<', page).group(1)
    assert citation.endswith(f"https://doi.org/{concept}")
    json_ld = re.search(r'<script type="application/ld\+json">(.*?)</script>', page, re.S)
    assert f"https://doi.org/{concept}" in json_ld.group(1)
    version_page = client.get(f"/datasets/{dataset.pid}/v/1/").content.decode()
    assert f"https://doi.org/{v1}" in version_page
    bib = client.get(f"/datasets/{dataset.pid}/citation.bib").content.decode()
    assert f"https://doi.org/{concept}" in bib

    xml = client.get(f"/datasets/{dataset.pid}/datacite.xml").content
    identifier = etree.fromstring(xml).find("{http://datacite.org/schema/kernel-4}identifier")
    assert (identifier.get("identifierType"), identifier.text) == ("DOI", concept)
    api = client.get(f"/api/v1/datasets/{dataset.pid}/").json()
    assert api["doi"]["doi"] == concept and api["doi"]["state"] == "findable"
    assert api["doi"]["url"] == f"https://doi.org/{concept}"
    assert "last_error" not in api["doi"]  # for curators only


def test_curators_see_why_a_doi_failed_and_retry_it_with_a_csrf_checked_post(
    world: Any, datacite: Any, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    settings.OPENEM_DATACITE_PASSWORD = "wrong"  # noqa: S105
    dataset = new_dataset(world)
    publish(world, dataset, django_capture_on_commit_callbacks)
    v1 = DoiRegistration.objects.get(dataset=dataset, version__number=1)
    assert v1.state == DoiState.FAILED

    anonymous = Client()
    public_page = anonymous.get(f"/datasets/{dataset.pid}/").content.decode()
    assert 'data-doi-state="failed"' in public_page  # the state is no secret
    assert "data-doi-error" not in public_page and "data-doi-retry" not in public_page

    curator = Client(enforce_csrf_checks=True)
    curator.force_login(world["curator"])
    page = curator.get(f"/datasets/{dataset.pid}/").content.decode()
    assert "HTTP 401" in page and "data-doi-retry" in page
    retry_url = f"/datasets/{dataset.pid}/doi/{v1.pk}/retry"
    assert curator.post(retry_url).status_code == 403  # no CSRF token
    assert curator.get(retry_url).status_code == 405

    settings.OPENEM_DATACITE_PASSWORD = PASSWORD
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    with django_capture_on_commit_callbacks(execute=True):
        answer = curator.post(retry_url, {"csrfmiddlewaretoken": token})
    assert answer.status_code == 302 and answer["Location"] == f"/datasets/{dataset.pid}/v/1/"
    v1.refresh_from_db()
    assert v1.state == DoiState.FINDABLE
    assert AuditEvent.objects.filter(action=AuditAction.DOI, actor=world["curator"]).count() == 1

    staff = Client()
    staff.force_login(world["staff"])  # staff, not curator: may not retry
    concept = DoiRegistration.objects.get(dataset=dataset, version__isnull=True)
    DoiRegistration.objects.filter(pk=concept.pk).update(state=DoiState.FAILED)
    staff.post(f"/datasets/{dataset.pid}/doi/{concept.pk}/retry")
    concept.refresh_from_db()
    assert concept.state == DoiState.FAILED
    assert staff.post(f"/datasets/{dataset.pid}/doi/999999/retry").status_code == 404


def test_the_tombstone_shows_the_hidden_doi_that_still_resolves(
    world: Any, datacite: Any, django_capture_on_commit_callbacks: Any, client: Client
) -> None:
    dataset = new_dataset(world)
    publish(world, dataset, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        versions.version_withdraw(
            actor=world["curator"], dataset=dataset, number=1, reason="Consent withdrawn"
        )
    answer = client.get(f"/datasets/{dataset.pid}/v/1/")
    assert answer.status_code == 410
    page = answer.content.decode()
    assert f'data-doi="{PREFIX}/{dataset.pid}.v1" data-doi-state="registered"' in page
    assert f"https://doi.org/{PREFIX}/{dataset.pid}.v1" in page


def test_the_dataset_list_shows_dois_without_a_query_per_dataset(
    world: Any,
    datacite: Any,
    django_capture_on_commit_callbacks: Any,
    django_assert_max_num_queries: Any,
    settings: Any,
) -> None:
    settings.OPENEM_DATACITE_PASSWORD = "wrong"  # noqa: S105 - every registration fails
    for _ in range(3):
        publish(world, new_dataset(world), django_capture_on_commit_callbacks)
    with django_assert_max_num_queries(4):
        public = Client().get("/api/v1/datasets/").json()["results"]
    assert [d["doi"]["state"] for d in public] == ["failed"] * 3
    assert all("last_error" not in d["doi"] for d in public)
    curator = Client()
    curator.force_login(world["curator"])
    mine = curator.get("/api/v1/datasets/").json()["results"]
    assert all("HTTP 401" in d["doi"]["last_error"] for d in mine if d["doi"]["doi"])


def test_admins_see_registrations_read_only(
    world: Any, datacite: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        dataset = new_dataset(world)
    admin = Client()
    admin.force_login(world["admin"])
    listing = admin.get("/admin/publishing/doiregistration/")
    assert listing.status_code == 200 and dataset.pid in listing.content.decode()
    assert admin.get("/admin/publishing/doiregistration/add/").status_code == 403
