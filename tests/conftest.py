"""Shared fixtures: named personas around one facility, project and dataset (see tests/README)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser

from repository.models import FacilityRole
from tests.factories import (
    FacilityFactory,
    FacilityMembershipFactory,
    InstrumentFactory,
    ProjectFactory,
    ProjectMembershipFactory,
    UserFactory,
)

pytest_plugins = ["tests.services"]


@dataclass
class World:
    """One facility with an instrument and a project, another facility, and a person per role."""

    facility: Any
    other_facility: Any
    instrument: Any
    project: Any
    personas: dict[str, Any]

    def __getitem__(self, persona: str) -> Any:
        return self.personas[persona]


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Throttle counters live in the cache: each test starts with none."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """PBKDF2's deliberate slowness is for production, not for hundreds of test users."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(db: Any) -> World:
    facility = FacilityFactory(name="Cryo-EM Facility Basel", slug="basel")
    other = FacilityFactory(name="ScopeM Zurich", slug="scopem")
    pi = UserFactory(username="pi")
    project = ProjectFactory(
        facility=facility, principal_investigator=pi, title="Ribosome dynamics"
    )
    member = UserFactory(username="member")
    ProjectMembershipFactory(user=member, project=project)
    staff = UserFactory(username="staff")
    FacilityMembershipFactory(user=staff, facility=facility, role=FacilityRole.STAFF)
    curator = UserFactory(username="curator")
    FacilityMembershipFactory(user=curator, facility=facility, role=FacilityRole.CURATOR)
    other_staff = UserFactory(username="other_staff")
    FacilityMembershipFactory(user=other_staff, facility=other, role=FacilityRole.CURATOR)
    admin = UserFactory(username="admin", is_superuser=True, is_staff=True)
    return World(
        facility=facility,
        other_facility=other,
        instrument=InstrumentFactory(facility=facility),
        project=project,
        personas={
            "anonymous": AnonymousUser(),
            "stranger": UserFactory(username="stranger"),
            "member": member,
            "other_staff": other_staff,
            "staff": staff,
            "curator": curator,
            "admin": admin,
        },
    )
