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
admin connection.  On an external server :func:`evim.xmpp.spaces.sync_external_spaces`
logs in as each user (evim holds their passwords) and does what the server lets a client
do: contacts and bookmarks in every user's own session, the rooms in an administrator's.
What a server cannot do or refuses — a room on another server, a wrong password, a room
evim's accounts do not own — is reported in :attr:`SyncReport.not_done`, saying what its
administrator must do.  :func:`do_sync` is idempotent: a second run changes nothing and
returns no change.
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
from evim.managed_server.provisioning import NewAccount, clean_display_name
from evim.managed_server.spaces import SpacesPlan, sync_spaces
from evim.messaging import encryption
from evim.messaging.jids import domain_of
from evim.messaging.models import JabberAccount
from evim.messaging.outcomes import text_for
from evim.messaging.project_config import get_messaging_config
from evim.xmpp.addresses import ServerLocator
from evim.xmpp.connection_test import Outcome, timeout_from_settings
from evim.xmpp.spaces import (
    ExternalSpacesPlan,
    Failure,
    FailureKind,
    Login,
    sync_external_spaces,
)
from evim.xmpp.spaces_plan import Change, ChangeKind, Member, RoomConfig, Step

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


def _active_accounts() -> list[JabberAccount]:
    return list(
        JabberAccount.objects.select_related("user").filter(user__is_active=True).order_by("jid")
    )


def _room_configs(room: str) -> tuple[list[RoomConfig], list[str], dict[str, str]]:
    """The rooms on the MUC host to create or configure, the other rooms (bookmarked
    only) and every room's name."""
    names, descriptions = _room_names()
    rooms: list[RoomConfig] = []
    elsewhere: list[str] = []
    for jid in names:
        if domain_of(jid) != settings.EVIM_XMPP_MUC_HOST:
            elsewhere.append(jid)
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
    return rooms, elsewhere, names


def _accounts_elsewhere(accounts: list[JabberAccount]) -> list[str]:
    """What cannot be done for the accounts on other servers than evim's domain."""
    external = [
        account.jid for account in accounts if domain_of(account.jid) != settings.EVIM_XMPP_DOMAIN
    ]
    if not external:
        return []
    return [
        _(
            "%(count)d accounts are on other servers (%(jids)s): they are members of "
            "the rooms, but evim cannot write their contacts or bookmarks."
        )
        % {"count": len(external), "jids": ", ".join(external[:5])}
    ]


def _member(account: JabberAccount) -> Member:
    """``account`` as a member of the structure's spaces.  Names go into roster pushes and
    room stanzas: no control character may reach a stream."""
    name = clean_display_name(str(account.user)) or account.localpart
    return Member(account.jid, name, account.user.is_administrator)


def _plan(room: str) -> tuple[SpacesPlan, list[str]]:
    """What the managed server should hold, and what it cannot do."""
    not_done: list[str] = []
    accounts = _active_accounts()
    members = [_member(account) for account in accounts]
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
    rooms, elsewhere, names = _room_configs(room)
    for jid in elsewhere:
        not_done.append(
            _(
                "The room %(room)s is not on the managed server (%(host)s): evim "
                "bookmarks it but cannot create or configure it; its own server's "
                "administrator must."
            )
            % {"room": jid, "host": settings.EVIM_XMPP_MUC_HOST}
        )
    not_done += _accounts_elsewhere(accounts)
    plan = SpacesPlan(
        structure_room=room,
        group=settings.EVIM_STRUCTURE_NAME,
        members=members,
        rooms=rooms,
        bookmarks=names,
        accounts=managed,
    )
    return plan, not_done


def _external_plan(room: str) -> tuple[ExternalSpacesPlan, list[str]]:
    """What the external server should hold, and what evim will not attempt there."""
    not_done: list[str] = []
    accounts = _active_accounts()
    members = [_member(account) for account in accounts]
    logins = [
        Login(account.jid, encryption.decrypt_password(account.password_encrypted))
        for account in accounts
        if domain_of(account.jid) == settings.EVIM_XMPP_DOMAIN
    ]
    rooms, elsewhere, names = _room_configs(room)
    for jid in elsewhere:
        not_done.append(
            _(
                "The room %(room)s is not on the XMPP server's room service (%(host)s): "
                "evim bookmarks it but does not create or configure it; its own server's "
                "administrator must."
            )
            % {"room": jid, "host": settings.EVIM_XMPP_MUC_HOST}
        )
    not_done += _accounts_elsewhere(accounts)
    plan = ExternalSpacesPlan(
        structure_room=room,
        group=settings.EVIM_STRUCTURE_NAME,
        members=members,
        rooms=rooms,
        bookmarks=names,
        logins=logins,
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


def describe_failure(failure: Failure) -> str:
    """What evim could not do on an external server, and who must do what."""
    values = {"subject": failure.subject, "detail": failure.detail}
    if failure.kind is FailureKind.LOGIN:
        text = text_for(failure.outcome or Outcome.PROTOCOL)
        if failure.outcome is Outcome.AUTH:
            advice = _("Set the account's current password in evim's Jabber accounts.")
        else:
            advice = str(text.advice) if text else ""
        return _(
            "evim could not log in as %(subject)s (%(label)s: %(detail)s): its contacts "
            "and bookmarks were not synchronised. %(advice)s"
        ) % {**values, "label": str(text.label) if text else "", "advice": advice}
    if failure.kind is FailureKind.CONTACTS:
        return (
            _("The contacts of %(subject)s were not synchronised: the server refused (%(detail)s).")
            % values
        )
    if failure.kind is FailureKind.BOOKMARKS:
        return (
            _(
                "The bookmarks of %(subject)s were not synchronised: the server refused "
                "(%(detail)s). It must offer bookmarks in PEP (XEP-0402)."
            )
            % values
        )
    if failure.kind is FailureKind.NO_ADMINISTRATOR:
        return (
            _(
                "No administrator of the back office can log in to the XMPP server: evim "
                "cannot create or configure the rooms %(subject)s. Give an administrator a "
                "Jabber account on that server, or have its administrator create the rooms "
                "(the structure's room members-only, every colleague a member)."
            )
            % values
        )
    if failure.kind is FailureKind.ROOM_NOT_OWNER:
        return (
            _(
                "The room %(subject)s exists, but no administrator's account owns it "
                "(%(detail)s): evim cannot configure it or set its members. The XMPP "
                "server's administrator must make one of these accounts an owner of the room."
            )
            % values
        )
    if failure.kind is FailureKind.ROOM_CREATION_REFUSED:
        return (
            _(
                "The XMPP server does not let evim create the room %(subject)s (%(detail)s). "
                "Its administrator must create it and make an administrator's account its "
                "owner, or allow that account to create rooms."
            )
            % values
        )
    if failure.kind is FailureKind.ROOM_SETTINGS_UNAVAILABLE:
        return (
            _(
                "The room %(subject)s: the XMPP server does not let its owner set %(detail)s. "
                "Its administrator must."
            )
            % values
        )
    return _("The room %(subject)s could not be synchronised: %(detail)s.") % values


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
    # Worded here, in the caller's language: progress may come from another thread.
    labels = {
        Step.ACCOUNTS: _("accounts"),
        Step.ROOMS: _("rooms"),
        Step.CONTACTS: _("contacts"),
        Step.BOOKMARKS: _("bookmarks"),
    }

    def step_progress(step: Step, done: int, total: int) -> None:
        if progress is not None:
            progress(labels[step], done, total)

    if settings.EVIM_XMPP_SERVER == "managed":
        plan, report.not_done = _plan(room)
        changes = async_to_sync(sync_spaces)(
            ServerLayout.from_settings(), plan, apply=not dry_run, progress=step_progress
        )
    else:
        external, report.not_done = _external_plan(room)
        result = async_to_sync(sync_external_spaces)(
            external,
            locator=ServerLocator.from_settings(),
            timeout=timeout_from_settings(),
            apply=not dry_run,
            progress=step_progress,
        )
        changes = result.changes
        report.not_done += [describe_failure(failure) for failure in result.failures]
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
