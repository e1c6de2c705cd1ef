"""The client's version (read by the package build too) and the API major version it speaks."""

__version__ = "0.2.0"
#: The ``v1`` of ``/api/v1/``: a portal announcing another major version is not spoken.
API_MAJOR = 1
