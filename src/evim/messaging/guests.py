"""Guest links (the service's anonymous mode): a guest without an account opens a link to one
room and chats there under a nickname, through the gateway, on the managed server's
anonymous host.

- **Who makes links**: administrators.  A link lets an outsider into a room and its
  history; the rooms' owners and admins on the server are the administrators (evim makes
  them so), so it is their decision, as who enters a room already is.
- **Which rooms**: rooms on the managed MUC host (the anonymous host is on the managed
  server, with no server-to-server), except the structure's room: that one is the
  colleagues' own (members-only, "nobody else may enter"), and every sync keeps its
  members exactly the structure.  In another members-only room, the gateway makes the
  guest's address a member when the guest's stream binds it, and takes the membership
  back when the stream ends (``evim.gateway.guests``).
- **The link** is ``/guest/<token>/``: 32 random bytes, of which only the SHA-256 is stored;
  it is shown once, when it is made.  It works until it expires or is revoked; revoking
  it ends its guests' open chats at once.
- **Tokens**: the guest page gets a one-time token for the gateway, as back-office pages
  do (:func:`issue_guest_token`, :func:`redeem_guest_token`), bound to the link and to the
  guest's browser session; the guest never has a password.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from evim.backoffice.models import AuditEntry, User
from evim.messaging.models import AccountEvent, GuestLink, GuestToken
from evim.messaging.project_config import get_messaging_config
from evim.messaging.sync import structure_room
from evim.service.current import service

if TYPE_CHECKING:
    from evim.gateway.relay import StreamOwner

#: The prefix of a guest's one-time gateway token (the gateway tells them from users' by it).
GUEST_TOKEN_PREFIX = "evim-guest:"  # noqa: S105 (a prefix, not a secret)
#: The gateway's WebSocket for guests (``evim.gateway.guests``), on the page's host.
GUEST_WEBSOCKET_PATH = "/im/guest-ws"
#: Longest and shortest nickname a guest may choose.
NICKNAME_MAX = 40
NICKNAME_MIN = 2
#: How long a link may be made for, in days.
MAX_DAYS = 90
#: Where the browser session keeps the guest's nicknames: {link id: nickname}.
SESSION_KEY = "evim_guest_nicknames"
#: A guest link's token in its URL.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{20,100}")


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class GuestLinkError(ValueError):
    """A link that cannot be made; the message says why and what to do."""


def anonymous_mode_available() -> bool:
    """Guests may come: messaging on, a managed server (the anonymous host is one of its
    hosts) and the service's anonymous mode on."""
    return (
        get_messaging_config().enabled
        and settings.EVIM_XMPP_SERVER == "managed"
        and service().anonymous_mode
    )


def anonymous_host() -> str:
    return service().anonymous_host


def check_room(room: str) -> str:
    """The room as stored (a bare room address, lowercased), or GuestLinkError."""
    room = room.strip().lower()
    local, at, host = room.partition("@")
    if not at or not local or "/" in room or any(char.isspace() for char in room):
        raise GuestLinkError(
            _("%(room)s is not a room address. Write it as name@%(host)s.")
            % {"room": room, "host": settings.EVIM_XMPP_MUC_HOST}
        )
    if host != settings.EVIM_XMPP_MUC_HOST:
        raise GuestLinkError(
            _(
                "Guests can only join rooms of this server (name@%(host)s): %(room)s is on "
                "another one."
            )
            % {"room": room, "host": settings.EVIM_XMPP_MUC_HOST}
        )
    if room == structure_room():
        raise GuestLinkError(
            _(
                "%(room)s is the colleagues' own room, where only the structure's users may "
                "enter. Make a room for the guests and link to that one."
            )
            % {"room": room}
        )
    return room


@dataclass(frozen=True)
class NewGuestLink:
    link: GuestLink
    #: The secret part of the link's address; only now, never again.
    token: str


@transaction.atomic
def do_create_guest_link(
    *, acting_user: User, room: str, days: int, note: str = ""
) -> NewGuestLink:
    """Make a link to ``room`` valid for ``days`` days; audited (never with the token)."""
    room = check_room(room)
    if not 1 <= days <= MAX_DAYS:
        raise GuestLinkError(_("A link lasts from 1 to %(max)d days.") % {"max": MAX_DAYS})
    token = secrets.token_urlsafe(32)
    link = GuestLink.objects.create(
        room=room,
        token_hash=_hash(token),
        note=note.strip()[:120],
        created_by=acting_user,
        expires=timezone.now() + timedelta(days=days),
    )
    _audit(
        acting_user,
        AccountEvent.GUEST_LINK_CREATED,
        room,
        link=link.pk,
        note=link.note,
        expires=link.expires.isoformat(),
    )
    return NewGuestLink(link, token)


@transaction.atomic
def do_revoke_guest_link(*, acting_user: User, link: GuestLink) -> bool:
    """Revoke ``link`` (False if it already was); its guests' open chats end once this
    commits (the gateway's streams of this link, in this process at once, elsewhere at the
    next periodic check)."""
    link = GuestLink.objects.select_for_update().get(pk=link.pk)
    if link.revoked is not None:
        return False
    link.revoked = timezone.now()
    link.save(update_fields=["revoked"])
    GuestToken.objects.filter(link=link).delete()
    _audit(acting_user, AccountEvent.GUEST_LINK_REVOKED, link.room, link=link.pk)
    link_id = link.pk

    def end_streams() -> None:
        from evim.gateway import registry

        registry.end_guest_streams(link_id=link_id, reason="the guest link was revoked")

    transaction.on_commit(end_streams)
    return True


def _audit(acting_user: User | None, event: AccountEvent, subject: str, **changes: Any) -> None:
    AuditEntry.objects.create(
        acting_user=acting_user, event=event.value, subject=subject, changes=changes
    )


# --- a guest's link ---------------------------------------------------------------------------


def link_for_token(token: str) -> GuestLink | None:
    """The link whose address holds ``token`` (valid or not), or None."""
    if not _TOKEN_SHAPE.fullmatch(token):
        return None
    return GuestLink.objects.filter(token_hash=_hash(token)).first()


def link_usable(link: GuestLink | None) -> bool:
    return link is not None and link.revoked is None and link.expires > timezone.now()


def check_nickname(text: str) -> str:
    """The nickname, normalised (NFC, spaces collapsed), or GuestLinkError saying why not:
    its length, control or invisible characters, or a colleague's name (a guest must not
    pass for one of the staff)."""
    nickname = " ".join(unicodedata.normalize("NFC", text).split())
    if any(unicodedata.category(char) in ("Cc", "Cf", "Co", "Cs", "Cn") for char in text):
        raise GuestLinkError(_("Use letters, digits, spaces and punctuation only."))
    if not NICKNAME_MIN <= len(nickname) <= NICKNAME_MAX:
        raise GuestLinkError(
            _("Choose a nickname of %(min)d to %(max)d characters.")
            % {"min": NICKNAME_MIN, "max": NICKNAME_MAX}
        )
    folded = nickname.casefold()
    for user in User.objects.filter(is_active=True).only("username", "first_name", "last_name"):
        names = {user.username.casefold(), user.get_full_name().casefold()}
        if folded in names:
            raise GuestLinkError(
                _("This name belongs to someone of the staff: choose another nickname.")
            )
    return nickname


# --- one-time tokens for the gateway ------------------------------------------------------------


def issue_guest_token(*, link: GuestLink, session_key: str) -> str:
    token = GUEST_TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = timezone.now()
    GuestToken.objects.filter(expires__lt=now).delete()  # keep the table small
    GuestToken.objects.create(
        token_hash=_hash(token),
        link=link,
        session_hash=_hash(session_key),
        expires=now + timedelta(seconds=settings.EVIM_GATEWAY_TOKEN_SECONDS),
    )
    return token


@transaction.atomic
def redeem_guest_token(token: str, *, link_id: int, session_key: str) -> bool:
    """True once for a valid token of this link and browser session, while the link is
    usable; the token is spent whatever the outcome."""
    if not token.startswith(GUEST_TOKEN_PREFIX):
        return False
    found = (
        GuestToken.objects.select_for_update()
        .select_related("link")
        .filter(token_hash=_hash(token))
        .first()
    )
    if found is None:
        return False
    found.delete()
    return (
        found.link_id == link_id
        and secrets.compare_digest(found.session_hash, _hash(session_key))
        and found.expires > timezone.now()
        and link_usable(found.link)
    )


def guest_verdicts(owners: Collection[StreamOwner]) -> dict[StreamOwner, str | None]:
    """For each guest's stream: None while it may go on, else why not (the gateway's
    periodic check, in one query for all of them)."""
    if not anonymous_mode_available():
        return dict.fromkeys(owners, gettext_noop("anonymous mode is off"))
    links = GuestLink.objects.in_bulk({owner.guest_link for owner in owners})
    return {
        owner: None
        if owner.guest_link is not None and link_usable(links.get(owner.guest_link))
        else gettext_noop("the guest link expired or was revoked")
        for owner in owners
    }
