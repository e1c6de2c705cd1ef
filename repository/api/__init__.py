"""The repository's REST API (datasets, files, manifests, facilities, instruments, projects,
tokens), mounted under ``/api/v1/`` by ``openem.api.urls``."""
