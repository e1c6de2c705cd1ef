"""A real Celery worker process (not eager mode) against Redis and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from repository.models import AuditAction, AuditEvent, Dataset, Visibility
from repository.tasks import release_embargoes
from tests.factories import DatasetFactory

pytestmark = pytest.mark.services


def test_worker_releases_due_embargoes(celery_worker_process):
    today = timezone.localdate()
    due = DatasetFactory(
        visibility=Visibility.EMBARGOED, embargo_until=today - dt.timedelta(days=1)
    )
    later = DatasetFactory(
        visibility=Visibility.EMBARGOED, embargo_until=today + dt.timedelta(days=10)
    )

    result = release_embargoes.delay()
    released = result.get(timeout=60)

    assert released == 1
    assert Dataset.objects.get(pk=due.pk).visibility == Visibility.PUBLIC
    assert Dataset.objects.get(pk=later.pk).visibility == Visibility.EMBARGOED
    event = AuditEvent.objects.get(action=AuditAction.EMBARGO_RELEASED)
    assert event.dataset_id == due.pk
    assert "repository.release_embargoes" in celery_worker_process.output()
