"""The OpenEM portal's project package.

The Celery app is imported when Django starts (``RepositoryConfig.ready``), so that
``shared_task`` binds to it, and on first use of ``openem.celery_app``; not on importing this
package, so the ``openem`` command-line client (``openem.cli``) starts without loading Celery.
"""

from typing import Any

__all__ = ("celery_app",)


def __getattr__(name: str) -> Any:
    if name == "celery_app":
        from .celery import app

        return app
    raise AttributeError(f"module 'openem' has no attribute {name!r}")
