"""Moved to the :mod:`storage` package (the bottom layer). This re-export lives for one landing
so that branches in flight keep importing; it is deleted in the next."""

from storage import *  # noqa: F403
from storage import __all__  # noqa: F401
