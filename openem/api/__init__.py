"""The HTTP API's shared machinery: token authentication, the one error shape, throttling and
pagination. Each app brings its own endpoints (``repository.api``, ``ingest``'s upload API),
mounted together under ``/api/v1/`` by :mod:`openem.api.urls`."""
