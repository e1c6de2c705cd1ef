"""Fixtures of the account tests: the OpenID Connect provider process and the portal configured
with it (``tests.support.oidc``)."""

from __future__ import annotations

from tests.support.oidc import oidc_server, providers  # noqa: F401
