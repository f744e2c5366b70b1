"""Slow down password guessing: after too many failed logins for one login name from one
address, further attempts are refused for a while, with a message saying how long."""

from __future__ import annotations

import hashlib
import math
import time

from django.conf import settings
from django.core.cache import cache


def _key(username: str, address: str) -> str:
    digest = hashlib.sha256(f"{username.casefold()}\0{address}".encode()).hexdigest()
    return f"evim:login-failures:{digest}"


def _recent_failures(key: str, now: float) -> list[float]:
    window = settings.EVIM_LOGIN_FAILURE_WINDOW
    stored: list[float] = cache.get(key, [])
    return [moment for moment in stored if now - moment < window]


def seconds_until_allowed(username: str, address: str) -> int:
    """0 if a login attempt may be made now, else how many seconds to wait."""
    now = time.time()
    failures = _recent_failures(_key(username, address), now)
    if len(failures) < settings.EVIM_LOGIN_FAILURE_LIMIT:
        return 0
    oldest_counted = failures[-settings.EVIM_LOGIN_FAILURE_LIMIT]
    return max(1, math.ceil(settings.EVIM_LOGIN_FAILURE_WINDOW - (now - oldest_counted)))


def record_failure(username: str, address: str) -> None:
    now = time.time()
    key = _key(username, address)
    failures = [*_recent_failures(key, now), now][-settings.EVIM_LOGIN_FAILURE_LIMIT :]
    cache.set(key, failures, timeout=settings.EVIM_LOGIN_FAILURE_WINDOW)


def forget_failures(username: str, address: str) -> None:
    cache.delete(_key(username, address))
