from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from evim.backoffice.menu import build_menu


def backoffice(request: HttpRequest) -> dict[str, Any]:
    """The structure's name and the menu, for the base layout."""
    user = getattr(request, "user", None)
    return {
        "structure_name": settings.EVIM_STRUCTURE_NAME,
        "menu": build_menu(user) if user is not None else (),
    }
