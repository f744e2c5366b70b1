"""The three spaces on an external server, through client protocol: :func:`sync_external_spaces`.

evim cannot administer a server it does not run, but it holds every user's password: it
logs in as them (:mod:`.session`) and does what any client may do on its own account.

1. **Rooms** (:mod:`.room_admin`), in an administrator's session — the first of the
   structure's administrators with an account here who owns the room (or may create it):
   a missing room is created and configured; an owned one is brought in step; then the
   affiliations: the structure's room holds exactly the structure (administrators owners,
   everyone else members; outcasts stay), a common room gets the administrators as admins
   and loses the former ones (those who were owners of the structure's room before this
   sync and no longer are administrators), its other affiliations left alone.
2. **Contacts** (:mod:`.roster_sync`) and **bookmarks** (:mod:`.bookmarks`), in each
   user's session, several users at a time.

What the server refuses — a login, a room evim's accounts do not own, a service that does
not let them create rooms — is returned as a :class:`Failure`, and the rest goes on.  With
``apply=False`` every session logs in and compares, and nothing is changed.

The work runs on an event loop of its own, in a thread of its own
(:func:`~evim.xmpp.isolated.run_isolated`): ``progress`` is called from that thread.
Passwords are only ever handed to :func:`~evim.xmpp.session.open_session`.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from evim.xmpp import bookmarks, room_admin, roster_sync
from evim.xmpp.addresses import ResolutionError, ServerLocator, ServerTarget
from evim.xmpp.connection_test import Outcome
from evim.xmpp.isolated import run_isolated
from evim.xmpp.session import LoginFailed, RequestFailed, Session, open_session
from evim.xmpp.spaces_plan import (
    Change,
    ChangeKind,
    Member,
    RoomConfig,
    Step,
    contacts_summary,
)

logger = logging.getLogger("evim.xmpp")

#: User sessions open at the same time.
CONCURRENCY = 8


@dataclass(frozen=True)
class Login:
    """An account evim logs in as."""

    jid: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class ExternalSpacesPlan:
    """What the external server should hold for one structure."""

    #: The structure's room: members-only, exactly the structure's members.
    structure_room: str
    #: The roster group (the structure's name).
    group: str
    #: Every colleague, wherever their account is: contacts and room members.
    members: Sequence[Member]
    #: The rooms evim creates or configures (on the server's MUC service).
    rooms: Sequence[RoomConfig] = ()
    #: Every room every user bookmarks (JID → name), wherever it is.
    bookmarks: Mapping[str, str] = field(default_factory=dict)
    #: The accounts evim logs in as (the members' on this server).
    logins: Sequence[Login] = ()


class FailureKind(enum.StrEnum):
    #: subject: the JID; outcome and detail: the connection test's.
    LOGIN = "login"
    #: subject: the JID; detail: the server's error.
    CONTACTS = "contacts"
    BOOKMARKS = "bookmarks"
    #: subject: the rooms, space-separated; no administrator has an account to log in as.
    NO_ADMINISTRATOR = "no-administrator"
    #: subject: the room; detail: the accounts tried, space-separated.
    ROOM_NOT_OWNER = "room-not-owner"
    #: subject: the room; detail: the server's error.
    ROOM_CREATION_REFUSED = "room-creation-refused"
    #: subject: the room; detail: the settings its form lacks, space-separated.
    ROOM_SETTINGS_UNAVAILABLE = "room-settings-unavailable"
    #: subject: the room; detail: the server's error.
    ROOM_FAILED = "room-failed"


@dataclass(frozen=True)
class Failure:
    kind: FailureKind
    subject: str
    detail: str = ""
    outcome: Outcome | None = None


@dataclass
class SpacesResult:
    changes: list[Change] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)


Progress = Callable[[Step, int, int], object]


async def sync_external_spaces(
    plan: ExternalSpacesPlan,
    *,
    locator: ServerLocator,
    timeout: float,
    apply: bool = True,
    concurrency: int = CONCURRENCY,
    progress: Progress | None = None,
) -> SpacesResult:
    """Make the server hold ``plan`` as far as its users' sessions may (see the module's
    doc); ``timeout``: seconds for each login and each request."""
    if concurrency < 1:
        raise ValueError("sync_external_spaces: concurrency must be at least 1")
    run = _Run(plan, locator=locator, timeout=timeout, apply=apply, progress=progress)
    return await run_isolated(lambda: run.run(concurrency), name="evim-xmpp-spaces")


class _Run:
    def __init__(
        self,
        plan: ExternalSpacesPlan,
        *,
        locator: ServerLocator,
        timeout: float,
        apply: bool,
        progress: Progress | None,
    ) -> None:
        self.plan = plan
        self.locator = locator
        self.timeout = timeout
        self.apply = apply
        self.progress = progress
        self.passwords = {login.jid: login.password for login in plan.logins}
        self.names = {member.jid: member.name for member in plan.members}
        self.result = SpacesResult()
        self._targets: dict[str, asyncio.Task[ServerTarget]] = {}
        #: Logins that failed, reported once each, never tried again.
        self._login_failures: dict[str, Failure] = {}

    def _progress(self, step: Step, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(step, done, total)

    # --- sessions ------------------------------------------------------------------------

    async def _target(self, domain: str) -> ServerTarget:
        task = self._targets.get(domain)
        if task is None:  # one lookup per domain, shared by every session
            task = asyncio.ensure_future(self._locate(domain))
            self._targets[domain] = task
        return await asyncio.shield(task)

    async def _locate(self, domain: str) -> ServerTarget:
        async with asyncio.timeout(self.timeout):
            return await self.locator.locate(domain)

    async def _login(self, jid: str) -> Session | None:
        if jid in self._login_failures:
            return None
        try:
            target = await self._target(jid.rpartition("@")[2])
            return await open_session(jid, self.passwords[jid], target=target, timeout=self.timeout)
        except ResolutionError as error:
            failure = Failure(FailureKind.LOGIN, jid, str(error), Outcome.UNKNOWN_HOST)
        except TimeoutError:
            detail = f"no DNS answer within {self.timeout:g} s"
            failure = Failure(FailureKind.LOGIN, jid, detail, Outcome.TIMEOUT)
        except LoginFailed as error:
            failure = Failure(FailureKind.LOGIN, jid, error.detail, error.outcome)
        logger.info("Spaces: cannot log in as %s: %s", jid, failure.detail)
        self._login_failures[jid] = failure
        return None

    # --- the run -------------------------------------------------------------------------

    async def run(self, concurrency: int) -> SpacesResult:
        await self._rooms()
        requested = await self._users(self.plan.logins, concurrency, record=True)
        if requested and self.apply:
            # A server without subscription pre-approval dropped the approvals sent before
            # the colleague asked: the colleague has asked by now, approve again.
            logger.info(
                "Spaces: no subscription pre-approval, completing %d rosters", len(requested)
            )
            logins = [login for login in self.plan.logins if login.jid in requested]
            await self._users(logins, concurrency, record=False)
        self.result.failures[:0] = [
            self._login_failures[jid] for jid in sorted(self._login_failures)
        ]
        return self.result

    # --- rooms ---------------------------------------------------------------------------

    async def _rooms(self) -> None:
        plan = self.plan
        if not plan.rooms:
            return
        administrators = [
            member.jid
            for member in plan.members
            if member.administrator and member.jid in self.passwords
        ]
        if not administrators:
            names = " ".join(config.jid for config in plan.rooms)
            self.result.failures.append(Failure(FailureKind.NO_ADMINISTRATOR, names))
            return
        # The structure's room first: its owners before this sync are the former
        # administrators, whom the common rooms lose as admins.
        rooms = sorted(plan.rooms, key=lambda config: config.jid != plan.structure_room)
        sessions: dict[str, Session | None] = {}
        former: set[str] = set()
        try:
            for done, config in enumerate(rooms, start=1):
                former |= await self._room(config, administrators, sessions, former)
                self._progress(Step.ROOMS, done, len(rooms))
        finally:
            for session in sessions.values():
                if session is not None:
                    await session.close()

    async def _room(
        self,
        config: RoomConfig,
        administrators: list[str],
        sessions: dict[str, Session | None],
        former: set[str],
    ) -> set[str]:
        """Sync one room with the first administrator's session that may; returns the
        owners it had before (the structure's room only)."""
        room = config.jid
        not_owner: list[str] = []
        for jid in administrators:
            if jid not in sessions:
                sessions[jid] = await self._login(jid)
            session = sessions[jid]
            if session is None:
                continue
            try:
                return await self._room_as(session, config, former)
            except room_admin.RoomRefused as refusal:
                if refusal.problem is room_admin.RoomProblem.NOT_OWNER:
                    not_owner.append(jid)
                    continue
                self._fail(FailureKind.ROOM_CREATION_REFUSED, room, refusal.detail)
                return set()
            except RequestFailed as error:
                self._fail(FailureKind.ROOM_FAILED, room, str(error))
                return set()
        if not_owner:
            self._fail(FailureKind.ROOM_NOT_OWNER, room, " ".join(not_owner))
        else:  # every administrator's login failed (reported as such)
            self._fail(FailureKind.NO_ADMINISTRATOR, room)
        return set()

    async def _room_as(self, session: Session, config: RoomConfig, former: set[str]) -> set[str]:
        room = config.jid
        nick = self.names.get(session.jid) or session.jid.partition("@")[0]
        state = await room_admin.ensure_room(session, config, nick=nick, apply=self.apply)
        if state.created:
            self._change(ChangeKind.ROOM_CREATED, room)
        elif state.settings:
            self._change(ChangeKind.ROOM_CONFIGURED, room, " ".join(state.settings))
        if state.unavailable:
            self._fail(FailureKind.ROOM_SETTINGS_UNAVAILABLE, room, " ".join(state.unavailable))
        if state.created and not self.apply:
            current = {session.jid: "owner"}  # what creating it would make
        else:
            current = await room_admin.read_affiliations(session, room)
        structure = room == self.plan.structure_room
        administrators = {member.jid for member in self.plan.members if member.administrator}
        if structure:
            desired = {
                member.jid: "owner" if member.administrator else "member"
                for member in self.plan.members
            }
        else:
            desired = dict.fromkeys(administrators, "admin")
        for jid, affiliation in _affiliation_changes(
            current,
            desired,
            exclusive=structure,
            former=former - administrators,
            own=session.jid,
        ):
            if self.apply:
                await room_admin.set_affiliation(session, room, jid, affiliation)
            self._change(ChangeKind.AFFILIATION, room, f"{jid} {affiliation}")
        if structure:
            return {jid for jid, affiliation in current.items() if affiliation == "owner"}
        return set()

    # --- users ---------------------------------------------------------------------------

    async def _users(self, logins: Sequence[Login], concurrency: int, *, record: bool) -> set[str]:
        """Contacts and bookmarks of every login, ``concurrency`` at a time; returns the
        JIDs whose rosters need their approvals sent again (no pre-approval)."""
        semaphore = asyncio.Semaphore(concurrency)
        total = len(logins)
        counts = {Step.CONTACTS: 0, Step.BOOKMARKS: 0}
        results: dict[str, list[Change]] = {}
        requested: set[str] = set()

        def step_done(step: Step) -> None:
            counts[step] += 1
            if record:
                self._progress(step, counts[step], total)

        async def one(jid: str) -> None:
            async with semaphore:
                session = await self._login(jid)
                if session is None:
                    step_done(Step.CONTACTS)
                    step_done(Step.BOOKMARKS)
                    return
                try:
                    changes, again = await self._user(session, bookmarks_too=record)
                finally:
                    await session.close()
            results[jid] = changes
            if again:
                requested.add(jid)
            step_done(Step.CONTACTS)
            step_done(Step.BOOKMARKS)

        async with asyncio.TaskGroup() as group:
            for login in logins:
                group.create_task(one(login.jid), name=f"evim-spaces {login.jid}")
        if record:
            for login in logins:  # in the plan's order, whatever order sessions ended in
                self.result.changes += results.get(login.jid, [])
        return requested

    async def _user(self, session: Session, *, bookmarks_too: bool) -> tuple[list[Change], bool]:
        jid, plan = session.jid, self.plan
        changes: list[Change] = []
        again = False
        try:
            contacts = await roster_sync.sync_contacts(
                session,
                group=plan.group,
                contacts=self.names,
                peers=self.passwords.keys(),
                apply=self.apply,
            )
        except RequestFailed as error:
            self._fail(FailureKind.CONTACTS, jid, str(error))
        else:
            if contacts is not None:
                summary = contacts_summary(
                    plan.group, contacts.added, contacts.changed, contacts.removed, contacts.details
                )
                changes.append(Change(ChangeKind.CONTACTS, jid, summary))
                again = contacts.requested and not session.preapproval
        if not bookmarks_too:
            return changes, again
        try:
            marked = await bookmarks.sync_bookmarks(
                session,
                rooms=plan.bookmarks,
                nick=self.names.get(jid, ""),
                structure=plan.structure_room,
                apply=self.apply,
            )
        except RequestFailed as error:
            self._fail(FailureKind.BOOKMARKS, jid, str(error))
        else:
            if marked:
                changes.append(Change(ChangeKind.BOOKMARKS, jid, " ".join(marked)))
        return changes, again

    # --- records -------------------------------------------------------------------------

    def _change(self, kind: ChangeKind, subject: str, detail: str = "") -> None:
        self.result.changes.append(Change(kind, subject, detail))

    def _fail(self, kind: FailureKind, subject: str, detail: str = "") -> None:
        logger.info("Spaces: %s %s: %s", kind.value, subject, detail)
        self.result.failures.append(Failure(kind, subject, detail))


def _affiliation_changes(
    current: Mapping[str, str],
    desired: Mapping[str, str],
    *,
    exclusive: bool,
    former: set[str],
    own: str,
) -> list[tuple[str, str]]:
    """(JID, affiliation) to set so that ``current`` holds ``desired``: any other
    affiliation is removed when ``exclusive``, else only a ``former`` admin's.  An owner
    is never made a mere admin, nor is the acting account ever removed."""
    changes: list[tuple[str, str]] = []
    for jid, wanted in sorted(desired.items()):
        have = current.get(jid, "none")
        if have == wanted or (wanted == "admin" and have == "owner"):
            continue
        changes.append((jid, wanted))
    for jid, have in sorted(current.items()):
        if jid in desired or jid == own:
            continue
        if exclusive or (jid in former and have == "admin"):
            changes.append((jid, "none"))
    return changes
