"""The vocabulary of the three spaces, shared by both ways of making them exist.

The managed Prosody is synchronised through its admin shell
(:mod:`evim.managed_server.spaces`), an external server by logging in as each user
(:mod:`evim.xmpp.spaces`); both take the same :class:`Member` and :class:`RoomConfig` and
return the same :class:`Change` records, so that the back office words them one way.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Step(enum.StrEnum):
    """The stages a sync reports progress for."""

    ACCOUNTS = "accounts"
    ROOMS = "rooms"
    CONTACTS = "contacts"
    BOOKMARKS = "bookmarks"


class ChangeKind(enum.StrEnum):
    ACCOUNT_CREATED = "account-created"
    ACCOUNT_FAILED = "account-failed"
    ROOM_CREATED = "room-created"
    #: detail: the settings changed, space-separated (:data:`ROOM_SETTINGS` names).
    ROOM_CONFIGURED = "room-configured"
    #: detail: "jid affiliation" ("none" when removed).
    AFFILIATION = "affiliation"
    #: detail: "group: +added ~changed -removed" and, when few, "(+jid ~jid -jid)".
    CONTACTS = "contacts"
    #: detail: "+room" (published) / "-room" (removed), space-separated.
    BOOKMARKS = "bookmarks"


@dataclass(frozen=True)
class Change:
    kind: ChangeKind
    subject: str
    detail: str = ""


@dataclass(frozen=True)
class Member:
    """A colleague: JID, full name, administrator of the structure or not."""

    jid: str
    name: str
    administrator: bool = False


#: The names of a room's settings, as :attr:`ChangeKind.ROOM_CONFIGURED` lists them.
ROOM_SETTINGS = (
    "name",
    "description",
    "persistent",
    "members_only",
    "public",
    "moderated",
    "whois",
    "archiving",
)


@dataclass(frozen=True)
class RoomConfig:
    """A room as it should be (``None``: left as it is)."""

    jid: str
    name: str
    description: str
    members_only: bool
    public: bool
    persistent: bool = True
    archiving: bool = True
    moderated: bool | None = False
    whois: str | None = None
    #: Name and describe the room only when creating it (a room shared by several
    #: structures' evims, whose settings may differ: they must not undo each other).
    labels_once: bool = False


def contacts_summary(
    group: str, added: int, changed: int, removed: int, details: tuple[str, ...] = ()
) -> str:
    """The detail of a :attr:`ChangeKind.CONTACTS` change."""
    summary = f"{group}: +{added} ~{changed} -{removed}"
    if details:
        summary += " (" + " ".join(details) + ")"
    return summary
