"""Logging out of the back office ends the user's chat streams at once (and closes the
upstream logins prepared for that session)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver
from django.http import HttpRequest

from evim.gateway import registry
from evim.gateway.prepared import PREPARED


@receiver(user_logged_out)
def end_streams_on_logout(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    if user is not None and request.session.session_key:
        session_key = request.session.session_key
        registry.end_streams(user_id=user.pk, session_key=session_key, reason="logged out")
        PREPARED.discard_session(user_id=user.pk, session_key=session_key)
