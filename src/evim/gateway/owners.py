"""Who may open a gateway stream, from the back-office session cookie (Django side)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module

from django.conf import settings
from django.contrib import auth
from django.http import HttpRequest

from evim.backoffice.models import User
from evim.gateway.relay import StreamOwner
from evim.messaging import encryption
from evim.messaging.models import JabberAccount
from evim.messaging.project_config import get_messaging_config


@dataclass(frozen=True)
class Refusal:
    """Why a stream is refused: an HTTP-like status for the handshake, and a reason."""

    status: int
    reason: str


def owner_for_session(session_key: str | None) -> StreamOwner | Refusal:
    """The logged-in user of this back-office session with their Jabber account, or why not."""
    if not get_messaging_config().enabled:
        return Refusal(404, "messaging is disabled")
    if not session_key:
        return Refusal(403, "not logged in")
    request = HttpRequest()
    request.session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    user = auth.get_user(request)  # checks the session's auth hash too
    if not isinstance(user, User) or not user.is_active:
        return Refusal(403, "not logged in")
    account = JabberAccount.objects.filter(user=user).first()
    if account is None:
        return Refusal(403, "no Jabber account")
    return StreamOwner(user_id=user.pk, session_key=session_key, jid=account.jid)


def still_allowed(owner: StreamOwner) -> str | None:
    """None while the session is logged in and the account unchanged, else why not."""
    current = owner_for_session(owner.session_key)
    if isinstance(current, Refusal):
        return current.reason
    if current.user_id != owner.user_id or current.jid != owner.jid:
        return "the Jabber account changed"
    return None


def stored_password(owner: StreamOwner) -> str:
    account = JabberAccount.objects.get(user_id=owner.user_id, jid=owner.jid)
    return encryption.decrypt_password(account.password_encrypted)
