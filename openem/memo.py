"""Reads asked more than once while one GET or HEAD request is answered, asked of the database
once.

A landing page asks for a dataset's latest published version, its draft and its DOI
registration from several places (the view, access checks, FAIR Signposting, JSON-LD, the DOI
panel); each is a query, and each place asking again is another. :func:`memoized` keeps the
answer for the rest of the request. Only safe requests have a memo (:class:`ReadMemoMiddleware`):
a request that writes, a Celery task and a management command always read afresh.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from contextvars import ContextVar
from typing import Any, TypeVar

from django.http import HttpRequest, HttpResponseBase

T = TypeVar("T")

_memo: ContextVar[dict[Hashable, Any] | None] = ContextVar("openem_read_memo", default=None)


def memoized(key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()``, asked once per safe request for ``key`` (every call outside one)."""
    memo = _memo.get()
    if memo is None:
        return compute()
    if key in memo:
        return memo[key]  # type: ignore[no-any-return]
    value = memo[key] = compute()
    return value


class ReadMemoMiddleware:
    """A fresh memo for each GET and HEAD request, dropped when its response is returned."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.method not in ("GET", "HEAD"):
            return self.get_response(request)
        token = _memo.set({})
        try:
            return self.get_response(request)
        finally:
            _memo.reset(token)
