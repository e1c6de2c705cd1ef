"""The base of every app's API views: :class:`ApiView`."""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import Model
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request

ModelT = TypeVar("ModelT", bound=Model)


# A comment, not a docstring: drf-spectacular would make it every endpoint's description.
# A method an endpoint does not have is 405 for everyone, before authentication and
# permissions are looked at (DRF checks those first, so a stranger's PUT would get 401/403).
class ApiView(GenericAPIView[ModelT]):
    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        method = (request.method or "").lower()
        if method not in self.http_method_names or not hasattr(self, method):
            self.http_method_not_allowed(request, *args, **kwargs)
        super().initial(request, *args, **kwargs)
