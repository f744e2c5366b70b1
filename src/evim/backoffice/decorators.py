from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase

View = TypeVar("View", bound=Callable[..., HttpResponseBase])


def administrator_required(view: View) -> View:
    """403 for anyone but an administrator, whatever the method.

    Anonymous visitors never get here: LoginRequiredMiddleware sends them to the login page.
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not getattr(request.user, "is_administrator", False):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return cast(View, wrapper)
