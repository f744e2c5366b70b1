"""The service settings in force: :func:`service`.

Each option is its stored value when an administrator changed it, else its default.  The
values are cached in the process for :data:`CACHE_SECONDS` (pages and connections read
them often; the table changes rarely); a change made in this process is seen at once
(:func:`forget`, called when the change commits), one made by another process (``evim
shell``) within :data:`CACHE_SECONDS`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, fields
from typing import Any

from evim.service.models import StoredOption
from evim.service.options import BY_NAME, OPTIONS

CACHE_SECONDS = 5.0


@dataclass(frozen=True)
class ServiceSettings:
    # Service
    name: str
    description: str
    owner_name: str
    owner_site: str
    terms_url: str
    # Connection
    resource: str
    lock_host: bool
    registration_allowed: bool
    anonymous_mode: bool
    http_auth: bool
    http_auth_header: str
    http_auth_proxies: list[str]
    # Others
    manager_link: bool
    rooms_to_join: list[str]
    suggest_rooms: bool
    announcement: str
    # Advanced
    encryption: bool
    force_https: bool
    compression: bool
    statistics: bool
    track_visits: bool
    tracker_url: str
    tracker_site_id: int | None
    # Hosts
    main_host: str
    muc_host: str
    anonymous_host: str
    pubsub_host: str
    directory_host: str
    stun_servers: list[str]
    websocket_url: str
    bosh_url: str
    integrated_proxy: bool


_lock = threading.Lock()
_cached: tuple[float, dict[str, Any]] | None = None


def stored() -> dict[str, Any]:
    """The values administrators changed (not the defaults), by option name."""
    global _cached
    with _lock:
        if _cached is not None and time.monotonic() - _cached[0] < CACHE_SECONDS:
            return _cached[1]
    values = {row.name: row.value for row in StoredOption.objects.all() if row.name in BY_NAME}
    with _lock:
        _cached = (time.monotonic(), values)
    return values


def forget() -> None:
    """Read the stored values again next time (they changed)."""
    global _cached
    with _lock:
        _cached = None


def service() -> ServiceSettings:
    """Every option's value in force.  Defaults are worked out on each call: some depend
    on the language of the moment (the default name) or on evim's settings.  A read-only
    option (set by evim's configuration) is its default, whatever was stored."""
    values = stored()
    return ServiceSettings(
        **{
            field.name: values[field.name]
            if field.name in values and not BY_NAME[field.name].is_read_only()
            else BY_NAME[field.name].default()
            for field in fields(ServiceSettings)
        }
    )


def defaults() -> dict[str, Any]:
    return {option.name: option.default() for option in OPTIONS}
