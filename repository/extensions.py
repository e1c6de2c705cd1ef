"""What the apps above the repository add to its dataset pages, registered in their
``AppConfig.ready`` so that the repository does not import them:

- *view wrappers* around the views of a kind (:data:`LANDING`: the landing pages of a dataset
  and of a version; :data:`FILE`: a file's page and download; :data:`METADATA`: a metadata
  record such as ``citation.bib``). ``fair`` answers the machine forms by ``Accept`` and adds
  the FAIR Signposting links this way. The first registered wrapper is the outermost.
- *landing context providers*: each returns template context for a landing page
  (:class:`LandingPage`), e.g. ``fair``'s JSON-LD and identifier checks, ``ingest``'s panel of
  a live acquisition. The repository's own context keys win over a provider's.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.http.response import HttpResponseBase

from .models import Dataset, DatasetVersion

LANDING = "landing"
FILE = "file"
METADATA = "metadata"

View = Callable[..., HttpResponseBase]
ViewWrapper = Callable[[View], View]

_wrappers: dict[str, list[ViewWrapper]] = {}
_wrapped: dict[tuple[View, tuple[ViewWrapper, ...]], View] = {}


def register_view_wrapper(kind: str, wrapper: ViewWrapper) -> None:
    """Wrap every view of ``kind`` in ``wrapper`` (registered twice, it wraps once)."""
    found = _wrappers.setdefault(kind, [])
    if wrapper not in found:
        found.append(wrapper)


def unregister_view_wrapper(kind: str, wrapper: ViewWrapper) -> None:
    if wrapper in _wrappers.get(kind, []):
        _wrappers[kind].remove(wrapper)


def extensible(kind: str) -> Callable[[View], View]:
    """Mark a view as one of ``kind``: each request goes through the wrappers registered for
    it at that time (they may be registered after the view was defined)."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def dispatch(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            wrappers = tuple(_wrappers.get(kind, ()))
            wrapped = _wrapped.get((view, wrappers))
            if wrapped is None:
                wrapped = view
                for wrapper in reversed(wrappers):
                    wrapped = wrapper(wrapped)
                _wrapped[(view, wrappers)] = wrapped
            return wrapped(request, *args, **kwargs)

        return dispatch

    return decorate


@dataclass(frozen=True)
class LandingPage:
    """The landing page being rendered, as a context provider sees it."""

    request: HttpRequest
    dataset: Dataset  # the dataset itself (not the version's frozen copy)
    version: DatasetVersion | None  # the version's own page (/v/<n>/); None: the dataset's
    can_list_files: bool
    can_edit: bool
    distributions: Sequence[Any] = ()  # jsonld.Distribution: the bulk downloads offered


LandingContext = Callable[[LandingPage], dict[str, Any]]
_landing_contexts: list[LandingContext] = []


def register_landing_context(provider: LandingContext) -> None:
    if provider not in _landing_contexts:
        _landing_contexts.append(provider)


def unregister_landing_context(provider: LandingContext) -> None:
    if provider in _landing_contexts:
        _landing_contexts.remove(provider)


def landing_context(page: LandingPage) -> dict[str, Any]:
    """What the registered providers add to a landing page's context, in their order."""
    context: dict[str, Any] = {}
    for provider in _landing_contexts:
        context.update(provider(page))
    return context
