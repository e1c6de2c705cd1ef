"""The Django admin works for site admins and keeps the audit trail read-only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from repository.models import AuditEvent
from tests.factories import DataFileFactory, DatasetFactory

MODELS = ["facility", "instrument", "project", "dataset", "datafile", "auditevent"]


@pytest.mark.parametrize("model", MODELS)
def test_admin_lists_and_opens_each_model(world, client, model):
    dataset = DatasetFactory(facility=world.facility, title="Krios session 42")
    datafile = DataFileFactory(dataset=dataset, path="Movies/m_001.eer")
    from repository.audit import audit_record

    audit_record(actor=world["admin"], action="create", target=dataset, dataset=dataset)
    client.force_login(world["admin"])
    listing = client.get(reverse(f"admin:repository_{model}_changelist"))
    assert listing.status_code == 200
    objects = {
        "facility": world.facility,
        "instrument": world.instrument,
        "project": world.project,
        "dataset": dataset,
        "datafile": datafile,
        "auditevent": AuditEvent.objects.get(),
    }
    obj = objects[model]
    change = client.get(reverse(f"admin:repository_{model}_change", args=[obj.pk]))
    assert change.status_code == 200
    assert str(obj) in change.content.decode() or str(obj.pk) in change.content.decode()


def test_audit_events_cannot_be_edited_in_the_admin(world, client):
    dataset = DatasetFactory(facility=world.facility)
    from repository.audit import audit_record

    event = audit_record(actor=world["admin"], action="create", target=dataset, dataset=dataset)
    client.force_login(world["admin"])
    response = client.post(
        reverse("admin:repository_auditevent_change", args=[event.pk]), {"action": "publish"}
    )
    assert response.status_code == 403
    event.refresh_from_db()
    assert event.action == "create"


def test_admin_is_closed_to_non_staff(world, client):
    client.force_login(world["curator"])
    response = client.get(reverse("admin:repository_dataset_changelist"))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]
