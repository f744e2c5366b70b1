"""Who may open a gateway stream, from the back-office session cookie (Django side)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib import auth
from django.http import HttpRequest
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext_noop

from evim.backoffice.models import User
from evim.gateway.relay import StreamOwner
from evim.messaging import encryption
from evim.messaging.chat import host_locked_out
from evim.messaging.guests import guest_verdicts
from evim.messaging.models import JabberAccount
from evim.messaging.project_config import get_messaging_config
from evim.service.current import service


@dataclass(frozen=True)
class Refusal:
    """Why a stream is refused: an HTTP-like status for the handshake, and a reason."""

    status: int
    reason: str


def owner_for_session(session_key: str | None) -> StreamOwner | Refusal:
    """The logged-in user of this back-office session with their Jabber account, or why not."""
    if not get_messaging_config().enabled:
        return Refusal(404, gettext_noop("messaging is disabled"))
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
    if host_locked_out(account.jid):
        return Refusal(403, "lock host: an account of another server")
    return StreamOwner(
        user_id=user.pk, session_key=session_key, jid=account.jid, language=user.language
    )


def verdicts_for(owners: Collection[StreamOwner]) -> dict[StreamOwner, str | None]:
    """For each stream owner: None while they may go on, else why not — in a few queries
    for all of them (sessions, users, accounts), however many streams are open.  Guests'
    streams (anonymous mode) go on while their link is valid and anonymous mode is on."""
    guests = [owner for owner in owners if owner.guest_link is not None]
    if not guests:
        return _user_verdicts(owners)
    users = [owner for owner in owners if owner.guest_link is None]
    return {**_user_verdicts(users), **guest_verdicts(guests)}


def _user_verdicts(owners: Collection[StreamOwner]) -> dict[StreamOwner, str | None]:
    if not get_messaging_config().enabled:
        return dict.fromkeys(owners, gettext_noop("messaging is disabled"))
    store_class = import_module(settings.SESSION_ENGINE).SessionStore
    sessions: dict[str, dict[str, Any]] = {}
    for key in {owner.session_key for owner in owners}:
        data = store_class(key).load()  # {} when the session is gone or expired
        if data:
            sessions[key] = data
    user_ids = {owner.user_id for owner in owners}
    users = User.objects.in_bulk(user_ids)
    jids = dict(JabberAccount.objects.filter(user_id__in=user_ids).values_list("user_id", "jid"))
    locked = service().lock_host
    verdicts: dict[StreamOwner, str | None] = {}
    for owner in owners:
        session = sessions.get(owner.session_key)
        user = users.get(owner.user_id)
        if (
            session is None
            or user is None
            or not user.is_active
            or str(session.get(auth.SESSION_KEY)) != str(owner.user_id)
            or not constant_time_compare(
                session.get(auth.HASH_SESSION_KEY, ""), user.get_session_auth_hash()
            )
        ):
            verdicts[owner] = gettext_noop("logged out")
        elif jids.get(owner.user_id) != owner.jid:
            verdicts[owner] = gettext_noop("the Jabber account changed")
        elif locked and host_locked_out(owner.jid):
            verdicts[owner] = gettext_noop("lock host: an account of another server")
        else:
            verdicts[owner] = None
    return verdicts


def stored_password(owner: StreamOwner) -> str:
    account = JabberAccount.objects.get(user_id=owner.user_id, jid=owner.jid)
    return encryption.decrypt_password(account.password_encrypted)
