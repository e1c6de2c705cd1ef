"""DOI registration against the fake DataCite server (its own process, real HTTP): reserve at
creation, findable at publish, a concept DOI plus one per version with their links, hide on
withdrawal, and every fault leaving the dataset published with the DOI pending or failed."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from openem.errors import Conflict, NotAllowed
from publishing import services as doi_services
from publishing.models import DoiRegistration, DoiState
from publishing.selectors import doi_status, public_doi
from repository import services, versions
from repository.models import AuditAction, AuditEvent, DatasetStatus, Visibility
from tests.support.datacite import AUTHORS, PREFIX, new_dataset, new_version, publish, related


def test_creating_a_dataset_reserves_a_draft_concept_doi(
    world: Any, datacite: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        dataset = new_dataset(world)
    concept = DoiRegistration.objects.get(dataset=dataset, version__isnull=True)
    assert concept.doi == f"{PREFIX}/{dataset.pid}"
    assert concept.state == DoiState.DRAFT
    [call] = datacite.calls()
    assert (call["method"], call["path"], call["authorized"]) == ("POST", "/dois", True)
    assert call["content_type"] == "application/vnd.api+json"
    assert call["body"]["data"]["type"] == "dois"
    assert call["event"] is None  # a draft: no event
    assert datacite.doi(concept.doi)["state"] == "draft"
    assert public_doi(dataset) == ""  # a draft DOI does not resolve: not cited yet


def test_publishing_twice_gives_a_concept_doi_and_two_linked_version_dois(
    world: Any, datacite: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        dataset = new_dataset(world)
    publish(world, dataset, django_capture_on_commit_callbacks)
    new_version(world, dataset, django_capture_on_commit_callbacks)

    concept, v1, v2 = (f"{PREFIX}/{dataset.pid}".lower() + s for s in ("", ".v1", ".v2"))
    held = datacite.dois()
    assert {held[d]["state"] for d in (concept, v1, v2)} == {"findable"}
    assert related(held[concept]["attributes"]) >= {("HasVersion", v1), ("HasVersion", v2)}
    assert ("IsVersionOf", concept) in related(held[v1]["attributes"])
    assert ("IsVersionOf", concept) in related(held[v2]["attributes"])
    assert ("IsPreviousVersionOf", v2) in related(held[v1]["attributes"])
    assert ("IsNewVersionOf", v1) in related(held[v2]["attributes"])
    # The concept resolves to the landing page (always the latest); versions to theirs.
    assert held[concept]["attributes"]["url"].endswith(f"/datasets/{dataset.pid}/")
    assert held[v2]["attributes"]["url"].endswith(f"/datasets/{dataset.pid}/v/2/")
    assert held[v2]["attributes"]["version"] == "2"
    assert "version" not in held[concept]["attributes"]
    events = [(c["method"], c["event"]) for c in datacite.calls() if c["status"] < 300]
    assert ("PUT", "publish") in events
    assert all(c["authorized"] for c in datacite.calls())
    assert {r.state for r in DoiRegistration.objects.filter(dataset=dataset)} == {"findable"}
    dataset.refresh_from_db()
    assert public_doi(dataset).lower() == concept
    assert public_doi(dataset, versions.version_get(dataset, 1)).lower() == v1


def test_without_datacite_settings_only_the_pid(world: Any, settings: Any) -> None:
    settings.OPENEM_DATACITE_PREFIX = ""
    dataset = new_dataset(world)
    services.dataset_publish(actor=world["curator"], dataset=dataset)
    assert not DoiRegistration.objects.exists()
    assert doi_status(dataset).state == "not_configured"
    assert "OpenEM PID" in doi_status(dataset).as_dict(with_errors=False)["message"]


def test_embargoed_datasets_get_a_findable_doi_with_metadata_only(
    world: Any, datacite: Any, django_capture_on_commit_callbacks: Any
) -> None:
    dataset = new_dataset(world)
    until = timezone.localdate() + dt.timedelta(days=90)
    publish(
        world,
        dataset,
        django_capture_on_commit_callbacks,
        visibility=Visibility.EMBARGOED,
        embargo_until=until,
    )
    record = datacite.doi(f"{PREFIX}/{dataset.pid}.v1")
    assert record["state"] == "findable"
    dates = {(d["dateType"], d["date"]) for d in record["attributes"]["dates"]}
    assert ("Available", until.isoformat()) in dates
    assert "contentUrl" not in record["attributes"]


def test_withdrawal_hides_the_doi_which_keeps_resolving_to_the_tombstone(
    world: Any, datacite: Any, django_capture_on_commit_callbacks: Any, client: Any
) -> None:
    dataset = new_dataset(world)
    publish(world, dataset, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        versions.version_withdraw(
            actor=world["curator"], dataset=dataset, number=1, reason="Wrong sample"
        )
    v1 = datacite.doi(f"{PREFIX}/{dataset.pid}.v1")
    concept = datacite.doi(f"{PREFIX}/{dataset.pid}")
    assert (v1["state"], concept["state"]) == ("registered", "registered")
    hides = [c for c in datacite.calls() if c["event"] == "hide"]
    assert len(hides) == 2 and all(c["status"] == 200 for c in hides)
    withdrawn = [d for d in v1["attributes"]["dates"] if d["dateType"] == "Withdrawn"]
    assert withdrawn and withdrawn[0]["dateInformation"] == "Wrong sample"
    page = client.get(v1["attributes"]["url"].split("8000", 1)[-1])
    assert page.status_code == 410
    with pytest.raises(Conflict, match="already withdrawn"):
        versions.version_withdraw(actor=world["curator"], dataset=dataset, number=1, reason="Again")


@pytest.mark.parametrize("fault", ["error", "stall"])
def test_datacite_outage_leaves_the_dataset_published_and_the_doi_pending(
    world: Any, datacite: Any, django_capture_on_commit_callbacks: Any, fault: str
) -> None:
    dataset = new_dataset(world)
    datacite.fault(fault, status=503, seconds=3, count=-1)
    publish(world, dataset, django_capture_on_commit_callbacks)
    dataset.refresh_from_db()
    assert dataset.status == DatasetStatus.PUBLISHED
    v1 = DoiRegistration.objects.get(dataset=dataset, version__number=1)
    assert v1.state == DoiState.PENDING
    assert ("HTTP 503" if fault == "error" else "did not answer within 1 s") in v1.last_error
    assert v1.attempts == 1
    assert public_doi(dataset, v1.version) == ""

    datacite.fault("none")
    if fault == "stall":  # the stalled create went through after the client gave up
        import time

        time.sleep(3.5)
    with django_capture_on_commit_callbacks(execute=True):
        doi_services.doi_retry(actor=world["curator"], registration=v1)
    v1.refresh_from_db()
    assert (v1.state, v1.last_error, v1.attempts) == (DoiState.FINDABLE, "", 0)
    assert datacite.doi(v1.doi)["state"] == "findable"
    event = AuditEvent.objects.get(action=AuditAction.DOI, dataset=dataset)
    assert event.actor == world["curator"] and event.details["action"] == "retry"


def test_a_record_datacite_would_refuse_is_not_sent_and_says_what_to_fix(
    world: Any, datacite: Any, django_capture_on_commit_callbacks: Any
) -> None:
    bad = [{**AUTHORS[0], "orcid": "0000-0002-1825-0098"}]  # wrong check digit
    with django_capture_on_commit_callbacks(execute=True):
        dataset = new_dataset(world)
    dataset.metadata = {"organizational": {"authors": bad}}  # as a curator may have saved it
    dataset.save(update_fields=["metadata"])
    sent_before = len(datacite.calls())
    publish(world, dataset, django_capture_on_commit_callbacks)

    dataset.refresh_from_db()
    assert dataset.status == DatasetStatus.PUBLISHED  # a warning never blocks publication
    v1 = DoiRegistration.objects.get(dataset=dataset, version__number=1)
    assert v1.state == DoiState.FAILED
    assert "metadata.organizational.authors[0].orcid" in v1.last_error
    assert "0000-0002-1825-0098" in v1.last_error
    published = [c for c in datacite.calls()[sent_before:] if c["event"] == "publish"]
    assert published == []
    assert public_doi(dataset, v1.version) == ""


def test_wrong_password_fails_with_the_reason_and_a_retry_heals_it(
    world: Any, datacite: Any, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    settings.OPENEM_DATACITE_PASSWORD = "not-the-password"  # noqa: S105
    dataset = new_dataset(world)
    publish(world, dataset, django_capture_on_commit_callbacks)
    dataset.refresh_from_db()
    assert dataset.status == DatasetStatus.PUBLISHED
    v1 = DoiRegistration.objects.get(dataset=dataset, version__number=1)
    assert v1.state == DoiState.FAILED
    assert "HTTP 401" in v1.last_error and "OPENEM_DATACITE_PASSWORD" in v1.last_error
    assert "not-the-password" not in v1.last_error
    assert all(c["status"] == 401 and not c["authorized"] for c in datacite.calls())
    assert datacite.dois() == {}

    with pytest.raises(NotAllowed):
        doi_services.doi_retry(actor=world["staff"], registration=v1)
    settings.OPENEM_DATACITE_PASSWORD = datacite_password()
    with django_capture_on_commit_callbacks(execute=True):
        doi_services.doi_retry(actor=world["curator"], registration=v1)
    v1.refresh_from_db()
    assert v1.state == DoiState.FINDABLE
    with pytest.raises(Conflict, match="nothing to retry"):
        doi_services.doi_retry(actor=world["curator"], registration=v1)


def test_the_periodic_task_retries_pending_registrations(
    world: Any, datacite: Any, django_capture_on_commit_callbacks: Any
) -> None:
    dataset = new_dataset(world)
    datacite.fault("error", status=500, count=-1)
    publish(world, dataset, django_capture_on_commit_callbacks)
    assert set(DoiRegistration.objects.values_list("state", flat=True)) == {DoiState.PENDING}
    datacite.fault("none")
    assert doi_services.dois_retry_pending() == 0  # tried just now: not yet
    long_ago = timezone.now() - dt.timedelta(hours=1)
    DoiRegistration.objects.update(last_attempt_at=long_ago)
    DoiRegistration.objects.filter(pk__gt=0).update(updated_at=long_ago)
    assert doi_services.dois_retry_pending() == 2
    assert set(DoiRegistration.objects.values_list("state", flat=True)) == {DoiState.FINDABLE}


def datacite_password() -> str:
    from tests.support.datacite import PASSWORD

    return PASSWORD


def test_visibility_changes_and_embargo_release_send_the_metadata_again(
    world: Any, datacite: Any, django_capture_on_commit_callbacks: Any
) -> None:
    dataset = new_dataset(world)
    until = timezone.localdate() + dt.timedelta(days=30)
    publish(
        world,
        dataset,
        django_capture_on_commit_callbacks,
        visibility=Visibility.EMBARGOED,
        embargo_until=until,
    )
    sent = len(datacite.calls())
    dataset.refresh_from_db()
    later = until + dt.timedelta(days=60)
    with django_capture_on_commit_callbacks(execute=True):
        services.dataset_set_visibility(
            actor=world["curator"],
            dataset=dataset,
            visibility=Visibility.EMBARGOED,
            embargo_until=later,
        )
    updates = datacite.calls()[sent:]
    assert {(c["method"], c["event"]) for c in updates} == {("PUT", None)}
    assert {c["path"] for c in updates} == {
        f"/dois/{PREFIX}/{dataset.pid}",
        f"/dois/{PREFIX}/{dataset.pid}.v1",
    }
    for record in datacite.dois().values():
        dates = {(d["dateType"], d["date"]) for d in record["attributes"]["dates"]}
        assert ("Available", later.isoformat()) in dates
    # Made private: both DOIs are hidden (they keep resolving), never deleted.
    with django_capture_on_commit_callbacks(execute=True):
        services.dataset_set_visibility(
            actor=world["curator"], dataset=dataset, visibility=Visibility.PRIVATE
        )
    held = datacite.dois()
    assert {held[d]["state"] for d in held} == {"registered"}
    assert {r.state for r in DoiRegistration.objects.filter(dataset=dataset)} == {"registered"}
