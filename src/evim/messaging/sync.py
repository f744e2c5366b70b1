"""The three spaces on the server, kept in step with the back office: :func:`do_sync`.

What should exist comes from the back office and the settings:

- the **structure's room** (``EVIM_STRUCTURE_ROOM``; by default the first room of
  ``messaging.chatrooms`` on the managed MUC host): persistent, members-only, archived,
  named after the structure (``EVIM_STRUCTURE_NAME``); every active user with a Jabber
  account a member, administrators owners;
- the **common rooms** (every other room of ``messaging.chatrooms``): on the managed MUC
  host, persistent, open, archived, the administrators admins (moderators);
- **colleagues as contacts**: each user's roster holds every colleague, in a group named
  after the structure, under their full names;
- **bookmarks** of every room, with autojoin, for every user.

On the managed server :func:`evim.managed_server.spaces.sync_spaces` does it all on one
admin connection.  What a server cannot do — an external server, a room on another
server — is reported, never attempted.  :func:`do_sync` is idempotent: a second run
changes nothing and returns no change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from asgiref.sync import async_to_sync
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from evim.backoffice.models import AuditEntry, User
from evim.managed_server.layout import ServerLayout
from evim.managed_server.provisioning import NewAccount
from evim.managed_server.rooms import RoomConfig
from evim.managed_server.spaces import Change, ChangeKind, Member, SpacesPlan, Step, sync_spaces
from evim.messaging import encryption
from evim.messaging.jids import domain_of
from evim.messaging.models import JabberAccount
from evim.messaging.project_config import get_messaging_config

logger = logging.getLogger("evim.messaging")

#: The audit event of a sync that changed something.
SPACES_SYNCED = "spaces_synced"

Progress = Callable[[str, int, int], object]


@dataclass
class SyncReport:
    """What a sync changed (or, in a dry run, would change) and what it could not do."""

    dry_run: bool
    changes: list[str] = field(default_factory=list)
    not_done: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def structure_room() -> str | None:
    """The structure's room: the setting, else the first chatroom on the managed MUC host."""
    if settings.EVIM_STRUCTURE_ROOM:
        return str(settings.EVIM_STRUCTURE_ROOM).lower()
    rooms = get_messaging_config().chatrooms
    for room in rooms:
        if domain_of(room) == settings.EVIM_XMPP_MUC_HOST:
            return room
    return rooms[0] if rooms else None


def common_rooms() -> list[str]:
    """The rooms of ``messaging.chatrooms`` other than the structure's."""
    own = structure_room()
    return [room for room in get_messaging_config().chatrooms if room != own]


def _room_names() -> tuple[dict[str, str], dict[str, str]]:
    """(name, description) of each room, in the back office's default language."""
    names: dict[str, str] = {}
    descriptions: dict[str, str] = {}
    structure = settings.EVIM_STRUCTURE_NAME
    with translation.override(settings.LANGUAGE_CODE):
        own = structure_room()
        if own:
            names[own] = structure
            descriptions[own] = _("The room of every colleague of %(structure)s.") % {
                "structure": structure
            }
        for room in common_rooms():
            names[room] = _("Common room")
            descriptions[room] = _("The room shared by every structure.")
    return names, descriptions


def _plan(room: str) -> tuple[SpacesPlan, list[str]]:
    """What the managed server should hold, and what it cannot do."""
    not_done: list[str] = []
    accounts = list(
        JabberAccount.objects.select_related("user").filter(user__is_active=True).order_by("jid")
    )
    members = [
        Member(account.jid, str(account.user), account.user.is_administrator)
        for account in accounts
    ]
    managed = [
        NewAccount(
            account.localpart,
            encryption.decrypt_password(account.password_encrypted),
            str(account.user),
        )
        for account in accounts
        if account.kind == JabberAccount.Kind.MANAGED
        and domain_of(account.jid) == settings.EVIM_XMPP_DOMAIN
    ]
    names, descriptions = _room_names()
    rooms: list[RoomConfig] = []
    for jid in names:
        if domain_of(jid) != settings.EVIM_XMPP_MUC_HOST:
            not_done.append(
                _(
                    "The room %(room)s is not on the managed server (%(host)s): evim "
                    "bookmarks it but cannot create or configure it; its own server's "
                    "administrator must."
                )
                % {"room": jid, "host": settings.EVIM_XMPP_MUC_HOST}
            )
            continue
        own = jid == room
        rooms.append(
            RoomConfig(
                jid,
                names[jid],
                descriptions[jid],
                members_only=own,
                public=not own,
                labels_once=not own,
            )
        )
    external = [
        account.jid for account in accounts if domain_of(account.jid) != settings.EVIM_XMPP_DOMAIN
    ]
    if external:
        not_done.append(
            _(
                "%(count)d accounts are on other servers (%(jids)s): they are members of "
                "the rooms, but evim cannot write their contacts or bookmarks."
            )
            % {"count": len(external), "jids": ", ".join(external[:5])}
        )
    plan = SpacesPlan(
        structure_room=room,
        group=settings.EVIM_STRUCTURE_NAME,
        members=members,
        rooms=rooms,
        bookmarks=names,
        accounts=managed,
    )
    return plan, not_done


def describe(change: Change) -> str:
    """One change, in words."""
    values = {"subject": change.subject, "detail": change.detail}
    if change.kind is ChangeKind.ACCOUNT_CREATED:
        return _("account %(subject)s created on the server") % values
    if change.kind is ChangeKind.ACCOUNT_FAILED:
        return _("account %(subject)s could not be created: %(detail)s") % values
    if change.kind is ChangeKind.ROOM_CREATED:
        return _("room %(subject)s created") % values
    if change.kind is ChangeKind.ROOM_CONFIGURED:
        return _("room %(subject)s configured: %(detail)s") % values
    if change.kind is ChangeKind.AFFILIATION:
        jid, _space, affiliation = change.detail.partition(" ")
        labels = {
            "owner": _("owner"),
            "admin": _("administrator"),
            "member": _("member"),
            "outcast": _("banned"),
        }
        if affiliation == "none":
            return _("room %(room)s: %(jid)s removed") % {"room": change.subject, "jid": jid}
        return _("room %(room)s: %(jid)s becomes %(affiliation)s") % {
            "room": change.subject,
            "jid": jid,
            "affiliation": labels.get(affiliation, affiliation),
        }
    if change.kind is ChangeKind.CONTACTS:
        return _("contacts of %(subject)s: %(detail)s") % values
    return _("bookmarks of %(subject)s: %(detail)s") % values


def do_sync(
    *, acting_user: User | None, dry_run: bool = False, progress: Progress | None = None
) -> SyncReport:
    """Make the server hold the spaces (``dry_run``: only say what would change)."""
    report = SyncReport(dry_run=dry_run)
    config = get_messaging_config()
    if not config.enabled:
        report.not_done.append(_("Messaging is disabled: there is nothing to synchronise."))
        return report
    room = structure_room()
    if room is None:
        report.not_done.append(
            _(
                "No structure room: set EVIM_STRUCTURE_ROOM or list the room in "
                "messaging.chatrooms of project.yml."
            )
        )
        return report
    if settings.EVIM_XMPP_SERVER != "managed":
        report.not_done.append(
            _(
                "The XMPP server is external: evim cannot administer it. Its administrator "
                "must create the room %(room)s (members-only, archived) with every "
                "colleague a member, the common rooms %(common)s, the shared contact group "
                "%(group)s and the bookmarks."
            )
            % {
                "room": room,
                "common": ", ".join(common_rooms()) or "-",
                "group": settings.EVIM_STRUCTURE_NAME,
            }
        )
        return report
    plan, report.not_done = _plan(room)

    def step_progress(step: Step, done: int, total: int) -> None:
        if progress is not None:
            labels = {
                Step.ACCOUNTS: _("accounts"),
                Step.ROOMS: _("rooms"),
                Step.CONTACTS: _("contacts"),
                Step.BOOKMARKS: _("bookmarks"),
            }
            progress(labels[step], done, total)

    changes = async_to_sync(sync_spaces)(
        ServerLayout.from_settings(), plan, apply=not dry_run, progress=step_progress
    )
    report.changes = [describe(change) for change in changes]
    if changes and not dry_run:
        counts: dict[str, int] = {}
        for change in changes:
            counts[change.kind.value] = counts.get(change.kind.value, 0) + 1
        AuditEntry.objects.create(
            acting_user=acting_user, event=SPACES_SYNCED, subject="messaging", changes=counts
        )
        logger.info("spaces synchronised: %d changes", len(changes))
    return report
