"""The images of a dataset's plots (stats/dataset_plots.py); the landing page shows them with
their numbers as tables."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

from repository import access, selectors

from . import dataset_plots as plots

# The image's own document may use style attributes (matplotlib's SVG), nothing else.
_IMAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'"


@require_safe
def dataset_plot(request: HttpRequest, pid: str, key: str, extension: str) -> HttpResponse:
    dataset = selectors.dataset_for_user(user=request.user, pid=pid)
    if dataset is None:
        raise Http404("No such dataset")
    with_files = access.can(request.user, access.Action.LIST_FILES, dataset)
    plot = plots.dataset_plot(dataset, key, with_files=with_files)
    if plot is None or plot.extension != extension:
        raise Http404("No such plot")
    response = HttpResponse(plots.plot_image(dataset, plot), content_type=plot.content_type)
    response["Content-Security-Policy"] = _IMAGE_POLICY
    response["Cache-Control"] = f"private, max-age={plots.CACHE_SECONDS}"
    return response
