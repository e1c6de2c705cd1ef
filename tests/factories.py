"""factory_boy factories for the domain (no JSON fixtures)."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from repository.models import (
    DataFile,
    Dataset,
    DatasetStatus,
    Facility,
    FacilityMembership,
    FacilityRole,
    FileState,
    Instrument,
    Project,
    ProjectMembership,
    Technique,
    Visibility,
)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):  # noqa: N805
        if create:
            obj.save()


class FacilityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Facility

    name = factory.Sequence(lambda n: f"EM Facility {n}")
    slug = factory.Sequence(lambda n: f"facility-{n}")
    contact_email = "em@example.org"


class InstrumentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Instrument

    facility = factory.SubFactory(FacilityFactory)
    name = factory.Sequence(lambda n: f"Krios {n}")
    manufacturer = "Thermo Fisher Scientific"
    model = "Titan Krios G4"
    serial_number = factory.Sequence(lambda n: f"SN{n:05d}")
    detectors = factory.LazyFunction(lambda: ["Falcon 4i"])


class FacilityMembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FacilityMembership

    user = factory.SubFactory(UserFactory)
    facility = factory.SubFactory(FacilityFactory)
    role = FacilityRole.STAFF


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    title = factory.Sequence(lambda n: f"Structure of complex {n}")
    code = factory.Sequence(lambda n: f"proposal-{n}")
    facility = factory.SubFactory(FacilityFactory)
    principal_investigator = factory.SubFactory(UserFactory)


class ProjectMembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProjectMembership

    user = factory.SubFactory(UserFactory)
    project = factory.SubFactory(ProjectFactory)


#: The citation fields publishing requires besides the title and licence (creators).
CITABLE_METADATA = {
    "organizational": {"authors": [{"given_name": "Ada", "family_name": "Lovelace"}]}
}


class DatasetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Dataset

    title = factory.Sequence(lambda n: f"Apoferritin session {n}")
    description = "Cryo-EM session of mouse apoferritin on a Krios."
    technique = Technique.SPA
    facility = factory.SubFactory(FacilityFactory)
    owner = factory.SubFactory(UserFactory)
    visibility = Visibility.PUBLIC
    status = DatasetStatus.PUBLISHED
    keywords = factory.LazyFunction(lambda: ["apoferritin"])


class DataFileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DataFile

    dataset = factory.SubFactory(DatasetFactory)
    path = factory.Sequence(lambda n: f"Images-Disc1/movie_{n:05d}.eer")
    directory = factory.LazyAttribute(lambda f: f.path.rpartition("/")[0])
    name = factory.LazyAttribute(lambda f: f.path.rpartition("/")[2])
    size = 1024
    storage_key = factory.Sequence(lambda n: f"datasets/test/files/{n:032x}")
    state = FileState.STORED
