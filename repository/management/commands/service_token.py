"""``manage.py service_token --facility basel --user krios1-watch``: a service account for
``openem watch`` at a microscope, and a token that may only upload to that facility."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from openem.errors import DomainError
from repository import tokens
from repository.models import Facility, FacilityMembership, FacilityRole, TokenScope


class Command(BaseCommand):
    help = (
        "Create (or reuse) a service account that is staff of a facility, and print a new "
        "API token with the 'facility_upload' scope for openem watch."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--facility", required=True, help="facility slug")
        parser.add_argument("--user", required=True, help="the service account's user name")
        parser.add_argument("--name", default="", help="what the token is for")

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        facility = Facility.objects.filter(slug=options["facility"]).first()
        if facility is None:
            slugs = ", ".join(Facility.objects.values_list("slug", flat=True)) or "none"
            raise CommandError(f"no facility {options['facility']!r}; facilities: {slugs}")
        user, created = get_user_model().objects.get_or_create(username=options["user"])
        if created:
            user.set_unusable_password()  # a service account never logs in to the site
            user.save(update_fields=["password"])
        FacilityMembership.objects.get_or_create(
            user=user, facility=facility, defaults={"role": FacilityRole.STAFF}
        )
        try:
            _token, secret = tokens.token_create(
                user=user,
                name=options["name"] or f"openem watch at {facility.slug}",
                scope=TokenScope.FACILITY_UPLOAD,
                facility=facility,
            )
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stderr.write(
            f"{'Created' if created else 'Reusing'} the service account {user.username}, staff "
            f"of {facility.name}; its new token may only upload there (shown once):"
        )
        self.stdout.write(secret)
