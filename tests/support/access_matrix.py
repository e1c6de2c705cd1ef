"""The access matrix: per persona and dataset state, what each may do (``EXPECTED``), and
``make_dataset`` to build a dataset in each state. The model-level tests and the API tests
check the same matrix."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from repository.access import Action
from repository.models import Dataset, DatasetStatus, Visibility
from tests.factories import DataFileFactory, DatasetFactory, UserFactory
from tests.support.personas import PERSONAS

TODAY = timezone.localdate()


# Written out by hand (not derived from the code under test), one row per persona.
INSIDERS = {"member", "staff", "curator", "admin"}


EVERYONE = set(PERSONAS)


EXPECTED: dict[str, dict[Action, set[str]]] = {
    "private": {
        Action.VIEW: INSIDERS,
        Action.LIST_FILES: INSIDERS,
        Action.DOWNLOAD: INSIDERS,
        Action.EDIT: INSIDERS,
        Action.PUBLISH: {"curator", "admin"},
    },
    "embargoed_before_date": {
        Action.VIEW: EVERYONE,
        Action.LIST_FILES: INSIDERS,
        Action.DOWNLOAD: INSIDERS,
        Action.EDIT: INSIDERS,
        Action.PUBLISH: {"curator", "admin"},
    },
    "embargoed_after_date": {
        Action.VIEW: EVERYONE,
        Action.LIST_FILES: EVERYONE,
        Action.DOWNLOAD: EVERYONE,
        Action.EDIT: INSIDERS,
        Action.PUBLISH: {"curator", "admin"},
    },
    "public": {
        Action.VIEW: EVERYONE,
        Action.LIST_FILES: EVERYONE,
        Action.DOWNLOAD: EVERYONE,
        Action.EDIT: INSIDERS,
        Action.PUBLISH: {"curator", "admin"},
    },
}


def make_dataset(world, state: str) -> Dataset:
    visibility, embargo = {
        "private": (Visibility.PRIVATE, None),
        "embargoed_before_date": (Visibility.EMBARGOED, TODAY + dt.timedelta(days=30)),
        "embargoed_after_date": (Visibility.EMBARGOED, TODAY - dt.timedelta(days=1)),
        "public": (Visibility.PUBLIC, None),
    }[state]
    # The uploader has no role of their own: every right in the matrix comes from a membership.
    uploader = UserFactory(username=f"uploader-{state}")
    dataset = DatasetFactory(
        facility=world.facility,
        project=world.project,
        owner=uploader,
        visibility=visibility,
        embargo_until=embargo,
        status=DatasetStatus.PUBLISHED,
    )
    DataFileFactory(dataset=dataset)
    return dataset
