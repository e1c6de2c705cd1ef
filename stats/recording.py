"""Recording usage events the way the COUNTER Code of Practice for Research Data asks.

Robots (the COUNTER-Robots list, which also catches crawlers that claim to be browsers) are not
recorded; scripts (the list's machine agents, API tokens, the openem client) are recorded as
'machine' access. A visitor is a signed-in user, else the browser session, else address and
user agent together; what is stored is only a hash of that, the hour and a secret of the day
(COUNTER's user-session), never the address or the user id. Recording is one INSERT, and a
failure to record never fails the page it counts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
import time
from functools import lru_cache
from typing import Any

import counter_robots
from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, IntegrityError, transaction

from .models import DailySalt, UsageEvent, UsageKind

log = logging.getLogger(__name__)

_salts: dict[dt.date, str] = {}
AGGREGATE_SOON_KEY = "stats:aggregate-soon"
AGGREGATE_DELAY = 60  # seconds from an event to the pass that counts it
AGGREGATE_SOON_TTL = 600  # a lost pass is scheduled again after this long


@lru_cache(maxsize=4096)
def classify_agent(user_agent: str) -> str:
    """'robot', 'machine' or 'regular' for a User-Agent header (cached: agents repeat)."""
    if not user_agent.strip():
        return "machine"  # COUNTER: no agent at all is not a person's browser
    # The machine list comes first: scripts such as curl, wget and python are on both lists,
    # and the Code of Practice for Research Data counts them as machine access.
    if counter_robots.is_machine(user_agent) or user_agent.startswith("openem-client"):
        return "machine"
    if counter_robots.is_robot(user_agent):
        return "robot"
    return "regular"


def day_salt(day: dt.date) -> str:
    """The secret of ``day``'s session hashes, made on first use (by any process)."""
    salt = _salts.get(day)
    if salt is None:
        try:
            row, _ = DailySalt.objects.get_or_create(
                day=day, defaults={"salt": secrets.token_hex(32)}
            )
        except IntegrityError:  # another process made it between our get and create
            row = DailySalt.objects.get(day=day)
        salt = row.salt
        if len(_salts) > 7:
            _salts.clear()
        _salts[day] = salt
    return salt


def forget_salts() -> None:
    _salts.clear()


def _client_address(request: Any) -> str:
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    rest_framework: dict[str, Any] = settings.REST_FRAMEWORK
    proxies = int(rest_framework.get("NUM_PROXIES") or 0)
    if forwarded and proxies:
        hops = [part.strip() for part in forwarded.split(",") if part.strip()]
        if hops:
            return hops[-min(proxies, len(hops))]
    return str(request.META.get("REMOTE_ADDR", ""))


def visitor_key(request: Any) -> str:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    session = getattr(request, "session", None)
    session_key = getattr(session, "session_key", None)
    if session_key:
        return f"session:{session_key}"
    agent = request.META.get("HTTP_USER_AGENT", "")
    return f"client:{_client_address(request)}|{agent}"


def session_hash(*, key: str, at: int, day: dt.date) -> str:
    hour = at // 3600
    return hashlib.sha256(f"{day_salt(day)}|{key}|{hour}".encode()).hexdigest()[:16]


def _is_scripted(request: Any) -> bool:
    authorization = request.META.get("HTTP_AUTHORIZATION", "")
    return authorization.startswith(("Token ", "Bearer "))


def usage_record(
    request: Any,
    *,
    kind: UsageKind | str,
    dataset_pid: str,
    file_id: int | None = None,
    version: int | None = None,
    now: float | None = None,
) -> UsageEvent | None:
    """Record one access of ``dataset_pid`` (or one of its files); None for robots or when the
    database refuses (logged: a page is never failed by counting it)."""
    agent_class = classify_agent(str(request.META.get("HTTP_USER_AGENT", ""))[:1000])
    if agent_class == "robot":
        return None
    at = int(now if now is not None else time.time())
    day = dt.datetime.fromtimestamp(at, tz=dt.UTC).date()
    try:
        event = UsageEvent.objects.create(
            at=at,
            day=day,
            dataset_pid=dataset_pid[:20],
            file_id=file_id,
            version=version,
            kind=UsageKind(kind),
            machine=agent_class == "machine" or _is_scripted(request),
            session=session_hash(key=visitor_key(request), at=at, day=day),
        )
    except DatabaseError:
        log.warning("usage event for %s not recorded", dataset_pid, exc_info=True)
        return None
    _aggregate_soon()
    return event


def _aggregate_soon() -> None:
    """Schedule a pass a minute after the first event since the last pass started (beat runs
    one every five minutes as well): figures follow usage without a pass per event. With
    in-process tasks (the embedded default) the pass runs at once."""
    if cache.add(AGGREGATE_SOON_KEY, 1, AGGREGATE_SOON_TTL):
        from .tasks import aggregate_usage

        transaction.on_commit(lambda: aggregate_usage.apply_async(countdown=AGGREGATE_DELAY))
