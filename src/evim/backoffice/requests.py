from __future__ import annotations

from django.http import HttpRequest

from evim.backoffice.models import User


def current_user(request: HttpRequest) -> User:
    """The logged-in user of a request that LoginRequiredMiddleware let through."""
    user = request.user
    if not isinstance(user, User):
        raise TypeError("current_user() needs a logged-in user")
    return user
