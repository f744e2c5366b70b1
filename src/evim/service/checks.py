"""System checks of the service settings (``evim check``)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from django.core.checks import CheckMessage, Error, register

from evim.service.current import ServiceSettings
from evim.service.options import BY_NAME


@register()
def options_match_the_settings(**_kwargs: Any) -> list[CheckMessage]:
    """Every option has a field in ServiceSettings, and every field an option."""
    names = {field.name for field in fields(ServiceSettings)}
    missing = sorted(set(BY_NAME) ^ names)
    if not missing:
        return []
    return [
        Error(
            f"service options and ServiceSettings differ on: {', '.join(missing)}",
            hint="Add each to evim/service/options.py OPTIONS and to ServiceSettings.",
            id="service.E001",
        )
    ]
