"""OpenAPI documentation of the people API (``accounts.api.views``): long descriptions and
examples per operation."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample

INVITATION_EXAMPLE = OpenApiExample(
    "Invite by e-mail, to be accepted with edu-ID",
    request_only=True,
    value={"email": "ada.lovelace@unibas.ch", "via": "eduid"},
)

FACILITY_PEOPLE_REMOVE = "A facility keeps at least one curator (409 otherwise)."

FACILITY_INVITATIONS_CREATE = (
    "The link is e-mailed to the address, expires after OPENEM_INVITATION_DAYS and works once."
)

FACILITY_INVITATIONS_CREATE_EXAMPLES = [INVITATION_EXAMPLE]

FACILITY_ACCESS_REQUESTS_LIST = "Filed by a first sign-in that matched the facility's sign-up rule."

PROJECT_MEMBERS_LIST = "Members see and edit the project's non-public datasets."

PROJECT_MEMBERS_REMOVE = "They no longer see its non-public datasets."

PROJECT_INVITATIONS_CREATE = (
    "The link is e-mailed to the address, expires after OPENEM_INVITATION_DAYS and works once."
)

PROJECT_INVITATIONS_CREATE_EXAMPLES = [INVITATION_EXAMPLE]
