"""A room administered by its owner's session (XEP-0045): :func:`ensure_room`, affiliations.

What a client may do, and nothing more: a room that does not exist is created by joining
it and submitting its configuration (``muc#owner``), which also unlocks it on servers that
lock new rooms until then; the session then leaves.  An existing room is reconfigured only
by an owner, and only the settings that differ are submitted (a partial form: the fields
evim does not set keep their values).  Affiliations are read and set with ``muc#admin``,
one item per request (Prosody applies only the first item of a request).

The server decides: a room evim's account does not own, or a service that does not let
it create rooms, raises :class:`RoomRefused` saying which.
"""

from __future__ import annotations

import asyncio
import enum
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from evim.xmpp import forms
from evim.xmpp.session import RequestFailed, Session
from evim.xmpp.spaces_plan import RoomConfig

MUC_NS = "http://jabber.org/protocol/muc"
MUC_USER_NS = f"{MUC_NS}#user"
MUC_OWNER_NS = f"{MUC_NS}#owner"
MUC_ADMIN_NS = f"{MUC_NS}#admin"
ROOMCONFIG_FORM = f"{MUC_NS}#roomconfig"

#: Each setting of :class:`RoomConfig` and the form fields that hold it, the first one a
#: form offers being used: ``mam`` is ejabberd's archiving field, Prosody's is
#: ``muc#roomconfig_enablearchiving``.
FIELDS: dict[str, tuple[str, ...]] = {
    "name": ("muc#roomconfig_roomname",),
    "description": ("muc#roomconfig_roomdesc",),
    "persistent": ("muc#roomconfig_persistentroom",),
    "members_only": ("muc#roomconfig_membersonly",),
    "public": ("muc#roomconfig_publicroom",),
    "moderated": ("muc#roomconfig_moderatedroom",),
    "whois": ("muc#roomconfig_whois",),
    "archiving": ("muc#roomconfig_enablearchiving", "mam"),
}
#: Settings a server may not offer without it being worth a word (archiving is a plus).
OPTIONAL_SETTINGS = frozenset({"archiving"})
#: Affiliations listed by ``muc#admin``, lowest first (a JID listed twice keeps the last).
LISTED_AFFILIATIONS = ("member", "admin", "owner")
#: Error conditions saying "not yours to configure".
_REFUSALS = frozenset({"forbidden", "not-authorized", "not-allowed"})


class RoomProblem(enum.StrEnum):
    #: The room exists and this account may not configure it (not an owner).
    NOT_OWNER = "not-owner"
    #: The service does not let this account create the room.
    CREATION_REFUSED = "creation-refused"


class RoomRefused(Exception):
    def __init__(self, room: str, problem: RoomProblem, detail: str) -> None:
        super().__init__(f"{room}: {problem.value}: {detail}")
        self.room = room
        self.problem = problem
        self.detail = detail


@dataclass(frozen=True)
class RoomState:
    """What :func:`ensure_room` did (or, without ``apply``, would do)."""

    created: bool
    #: Settings changed in an existing room (names of :data:`FIELDS`).
    settings: tuple[str, ...] = ()
    #: Settings wanted that the room's configuration form does not offer.
    unavailable: tuple[str, ...] = ()


def _wanted(config: RoomConfig, *, creating: bool) -> dict[str, bool | str]:
    values: dict[str, bool | str | None] = {
        "name": config.name,
        "description": config.description,
        "persistent": config.persistent,
        "members_only": config.members_only,
        "public": config.public,
        "moderated": config.moderated,
        "whois": config.whois,
        "archiving": config.archiving,
    }
    if config.labels_once and not creating:
        # A room shared by several structures: named once, by whoever created it.
        values["name"] = values["description"] = None
    return {name: value for name, value in values.items() if value is not None}


def _differences(
    config: RoomConfig, form: dict[str, forms.Field], *, creating: bool
) -> tuple[dict[str, str], list[str], list[str]]:
    """(field values to submit, settings they change, settings the form lacks).  When
    ``creating``, every wanted setting is submitted."""
    submit: dict[str, str] = {}
    changed: list[str] = []
    unavailable: list[str] = []
    for setting, wanted in _wanted(config, creating=creating).items():
        var = next((var for var in FIELDS[setting] if var in form), None)
        if var is None:
            if setting not in OPTIONAL_SETTINGS:
                unavailable.append(setting)
            continue
        field = form[var]
        if isinstance(wanted, bool):
            differs = field.boolean != wanted
            value = forms.boolean(wanted)
        else:
            differs = field.value != wanted
            value = wanted
        if differs or creating:
            submit[var] = value
            if differs:
                changed.append(setting)
    return submit, changed, unavailable


async def _owner_form(session: Session, room: str) -> dict[str, forms.Field]:
    query = await session.query("get", ET.Element(f"{{{MUC_OWNER_NS}}}query"), to=room)
    return forms.parse_form(query)


async def _submit(session: Session, room: str, values: dict[str, str]) -> None:
    query = ET.Element(f"{{{MUC_OWNER_NS}}}query")
    query.append(forms.submission(ROOMCONFIG_FORM, values))
    await session.query("set", query, to=room)


async def _join(session: Session, room: str, nick: str) -> bool:
    """Enter ``room`` as ``nick``; True if the server says it created the room (status
    201).  An error presence raises :class:`RequestFailed`."""
    outcome: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    def on_presence(presence: Any) -> None:
        sender = presence["from"]
        if sender.bare != room or outcome.done():
            return
        if presence["type"] == "error":
            error = presence["error"]
            outcome.set_exception(RequestFailed(str(error["condition"]), str(error["text"] or "")))
            return
        x = presence.xml.find(f"{{{MUC_USER_NS}}}x")
        codes = (
            set()
            if x is None
            else {status.get("code") for status in x.findall(f"{{{MUC_USER_NS}}}status")}
        )
        if "110" in codes or sender.resource == nick:  # our own presence: we are in
            outcome.set_result("201" in codes)

    session.client.add_event_handler("presence", on_presence)
    try:
        join = ET.Element(f"{{{MUC_NS}}}x")
        ET.SubElement(join, f"{{{MUC_NS}}}history", {"maxstanzas": "0"})
        session.send_presence(f"{room}/{nick}", payload=join)
        return await session.wait(outcome)
    finally:
        session.client.del_event_handler("presence", on_presence)


async def _create(session: Session, config: RoomConfig, *, nick: str) -> RoomState | None:
    """Create and configure the room; ``None`` if someone else created it meanwhile."""
    room = config.jid
    try:
        created = await _join(session, room, nick)
    except RequestFailed as error:
        if error.condition in _REFUSALS:
            raise RoomRefused(room, RoomProblem.CREATION_REFUSED, str(error)) from None
        if error.condition in ("registration-required", "item-not-found"):
            # Members-only, or locked by its creator: it exists, and is someone else's.
            raise RoomRefused(room, RoomProblem.NOT_OWNER, str(error)) from None
        raise
    try:
        if not created:
            return None
        form = await _owner_form(session, room)
        submit, _changed, unavailable = _differences(config, form, creating=True)
        await _submit(session, room, submit)
    finally:
        session.send_presence(f"{room}/{nick}", "unavailable")
    return RoomState(created=True, unavailable=tuple(unavailable))


async def ensure_room(session: Session, config: RoomConfig, *, nick: str, apply: bool) -> RoomState:
    """Make ``config.jid`` exist with ``config`` (see the module's doc); ``nick``: the name
    the session enters under to create it.  Raises :class:`RoomRefused` or
    :class:`RequestFailed`."""
    for _attempt in range(2):
        try:
            form = await _owner_form(session, config.jid)
        except RequestFailed as error:
            if error.condition == "item-not-found":
                if not apply:
                    return RoomState(created=True)
                state = await _create(session, config, nick=nick)
                if state is not None:
                    return state
                continue  # created by someone else meanwhile: configure it, if ours
            if error.condition in _REFUSALS:
                raise RoomRefused(config.jid, RoomProblem.NOT_OWNER, str(error)) from None
            raise
        submit, changed, unavailable = _differences(config, form, creating=False)
        if submit and apply:
            await _submit(session, config.jid, submit)
        return RoomState(created=False, settings=tuple(changed), unavailable=tuple(unavailable))
    raise RequestFailed("conflict", f"the room {config.jid} appears and disappears")


async def read_affiliations(session: Session, room: str) -> dict[str, str]:
    """Every owner, admin and member of ``room`` (bare JID → affiliation)."""

    async def listed(affiliation: str) -> list[str]:
        query = ET.Element(f"{{{MUC_ADMIN_NS}}}query")
        ET.SubElement(query, f"{{{MUC_ADMIN_NS}}}item", {"affiliation": affiliation})
        reply = await session.query("get", query, to=room)
        items = [] if reply is None else reply.findall(f"{{{MUC_ADMIN_NS}}}item")
        return [item.get("jid", "").partition("/")[0] for item in items if item.get("jid")]

    lists = await asyncio.gather(*(listed(name) for name in LISTED_AFFILIATIONS))
    return {
        jid: affiliation
        for affiliation, jids in zip(LISTED_AFFILIATIONS, lists, strict=True)
        for jid in jids
    }


async def set_affiliation(session: Session, room: str, jid: str, affiliation: str) -> None:
    """Give ``jid`` ``affiliation`` in ``room`` ("none": remove it)."""
    query = ET.Element(f"{{{MUC_ADMIN_NS}}}query")
    ET.SubElement(query, f"{{{MUC_ADMIN_NS}}}item", {"jid": jid, "affiliation": affiliation})
    await session.query("set", query, to=room)
