"""The access matrix: persona x visibility x action, per object and as queryset filters."""

from __future__ import annotations

import datetime as dt

import pytest

from repository import access
from repository.access import Action
from repository.models import Dataset, DatasetStatus
from tests.support.access_matrix import EVERYONE, EXPECTED, INSIDERS, make_dataset
from tests.support.personas import PERSONAS

CASES = [
    (state, persona, action) for state in EXPECTED for persona in PERSONAS for action in Action
]


@pytest.mark.parametrize(("state", "persona", "action"), CASES)
def test_access_matrix(world, state, persona, action):
    dataset = make_dataset(world, state)
    user = world[persona]
    expected = persona in EXPECTED[state][action]

    assert access.can(user, action, dataset) is expected

    # The queryset form used by listings, search and the API must agree with the per-object rule.
    if action is Action.VIEW:
        assert access.datasets_visible_to(user).filter(pk=dataset.pk).exists() is expected
    if action in (Action.LIST_FILES, Action.DOWNLOAD):
        assert access.datasets_with_files_for(user).filter(pk=dataset.pk).exists() is expected


@pytest.mark.parametrize("persona", PERSONAS)
def test_unpublished_datasets_are_seen_only_by_insiders(world, persona):
    dataset = make_dataset(world, "public")
    Dataset.objects.filter(pk=dataset.pk).update(status=DatasetStatus.READY)
    dataset.refresh_from_db()
    expected = persona in INSIDERS
    assert access.can(world[persona], Action.VIEW, dataset) is expected
    assert access.can(world[persona], Action.DOWNLOAD, dataset) is expected
    assert access.datasets_visible_to(world[persona]).filter(pk=dataset.pk).exists() is expected


def test_owner_without_membership_keeps_access_to_own_private_dataset(world):
    dataset = make_dataset(world, "private")
    assert access.can(dataset.owner, Action.DOWNLOAD, dataset)
    assert access.can(dataset.owner, Action.EDIT, dataset)
    assert not access.can(dataset.owner, Action.PUBLISH, dataset)


def test_inactive_user_has_no_insider_rights(world):
    dataset = make_dataset(world, "private")
    staff = world["staff"]
    staff.is_active = False
    staff.save()
    assert not access.can(staff, Action.VIEW, dataset)
    assert not access.datasets_visible_to(staff).filter(pk=dataset.pk).exists()


def test_embargo_opens_on_its_date_without_the_release_task(world):
    dataset = make_dataset(world, "embargoed_before_date")
    stranger = world["stranger"]
    day_before = dataset.embargo_until - dt.timedelta(days=1)
    assert not access.can(stranger, Action.DOWNLOAD, dataset, today=day_before)
    assert access.can(stranger, Action.DOWNLOAD, dataset, today=dataset.embargo_until)
    assert (
        access.datasets_with_files_for(stranger, today=dataset.embargo_until)
        .filter(pk=dataset.pk)
        .exists()
    )


@pytest.mark.parametrize("persona", PERSONAS)
def test_create_dataset_rights(world, persona):
    expected_here = persona in {"staff", "curator", "admin"}
    assert access.can_create_dataset(world[persona], world.facility) is expected_here
    expected_other = persona in {"other_staff", "admin"}
    assert access.can_create_dataset(world[persona], world.other_facility) is expected_other


def test_visible_querysets_have_no_duplicates_for_users_with_several_roles(world):
    dataset = make_dataset(world, "private")
    curator = world["curator"]
    # The curator is also a project member and the owner: still one row, not three.
    world.project.memberships.create(user=curator)
    Dataset.objects.filter(pk=dataset.pk).update(owner=curator)
    assert list(access.datasets_visible_to(curator).filter(pk=dataset.pk)) == [dataset]
    assert access.datasets_with_files_for(curator).filter(pk=dataset.pk).count() == 1


# Projects a persona may know of, by what the project holds (world.project, at world.facility).
PROJECT_EXPECTED = {
    "nothing": INSIDERS,
    "private": INSIDERS,
    "embargoed_before_date": EVERYONE,
    "public": EVERYONE,
}


@pytest.mark.parametrize(
    ("state", "persona"), [(state, persona) for state in PROJECT_EXPECTED for persona in PERSONAS]
)
def test_projects_visible_to(world, state, persona):
    if state != "nothing":
        make_dataset(world, state)
    visible = access.projects_visible_to(world[persona])
    assert visible.filter(pk=world.project.pk).exists() is (persona in PROJECT_EXPECTED[state])
    assert visible.filter(pk=world.project.pk).count() <= 1  # no duplicates from several roles


def test_projects_visible_to_principal_investigator_and_unpublished(world):
    # The PI holds no membership row: their own project is theirs to see all the same, and an
    # unpublished public-visibility dataset does not reveal the project to outsiders.
    dataset = make_dataset(world, "public")
    Dataset.objects.filter(pk=dataset.pk).update(status=DatasetStatus.READY)
    pi = world.project.principal_investigator
    assert access.projects_visible_to(pi).filter(pk=world.project.pk).exists()
    assert not access.projects_visible_to(world["stranger"]).filter(pk=world.project.pk).exists()
    pi.is_active = False
    pi.save()
    assert not access.projects_visible_to(pi).filter(pk=world.project.pk).exists()
