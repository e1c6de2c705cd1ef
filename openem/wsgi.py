"""The WSGI application (gunicorn ``openem.wsgi:application``)."""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "openem.settings")
application = get_wsgi_application()


def freeze_startup_objects() -> int:
    """Load every view module, then move everything loaded so far (modules, URL patterns,
    settings, schema and unit registries) out of the garbage collector's reach: they live as
    long as the process, and a full collection otherwise scans them all again, ~100 ms every
    few hundred requests, in the middle of someone's request. Returns the number frozen."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - imports every app's views now, not at a request
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


freeze_startup_objects()
