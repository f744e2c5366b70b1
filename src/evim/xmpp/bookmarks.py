"""Rooms in every client, published by the user's own session (XEP-0402): :func:`sync_bookmarks`.

Each room is one item of the user's PEP node ``urn:xmpp:bookmarks:1``, the room's JID as
item id, ``autojoin='true'``, the room's name, the user's full name as nickname, published
with the publish options XEP-0402 asks for (persistent items, as many as needed, never
sent on subscription, readable by the user only).  An item is republished only when it
lacks ``autojoin`` or names the room otherwise; the user's nickname, password and
extensions in it are kept.

Bookmarks evim publishes carry a mark of the structure in their ``<extensions/>``: when a
room is no longer one of the structure's, its bookmark is retracted if — and only if — it
carries that mark.  Every other bookmark is the user's and stays as it is.
"""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from collections.abc import Mapping

from evim.xmpp import forms
from evim.xmpp.session import RequestFailed, Session

BOOKMARKS_NODE = "urn:xmpp:bookmarks:1"
PUBSUB_NS = "http://jabber.org/protocol/pubsub"
PUBLISH_OPTIONS = "http://jabber.org/protocol/pubsub#publish-options"
#: The namespace of evim's mark in a bookmark's extensions (private to evim).
MARK_NS = "urn:x-evim:spaces:0"
#: XEP-0402 §3: the node's configuration, as publish options.
OPTIONS = {
    "pubsub#persist_items": "true",
    "pubsub#max_items": "max",
    "pubsub#send_last_published_item": "never",
    "pubsub#access_model": "whitelist",
}


def _tag(name: str, namespace: str = BOOKMARKS_NODE) -> str:
    return f"{{{namespace}}}{name}"


async def read_bookmarks(session: Session) -> dict[str, ET.Element]:
    """The user's bookmarks: room JID → its ``<conference/>`` element."""
    pubsub = ET.Element(_tag("pubsub", PUBSUB_NS))
    ET.SubElement(pubsub, _tag("items", PUBSUB_NS), {"node": BOOKMARKS_NODE})
    try:
        reply = await session.query("get", pubsub)
    except RequestFailed as error:
        if error.condition == "item-not-found":  # no bookmark yet: no node
            return {}
        raise
    found: dict[str, ET.Element] = {}
    for item in [] if reply is None else reply.iter(_tag("item", PUBSUB_NS)):
        conference = item.find(_tag("conference"))
        room = item.get("id")
        if room and conference is not None:
            found[room] = conference
    return found


def _mark(conference: ET.Element) -> str | None:
    """The structure whose evim published this bookmark, if one did."""
    extensions = conference.find(_tag("extensions"))
    mark = None if extensions is None else extensions.find(_tag("spaces", MARK_NS))
    return None if mark is None else mark.get("structure")


def _conference(existing: ET.Element | None, *, name: str, nick: str, structure: str) -> ET.Element:
    """The bookmark to publish: ``existing`` (its children kept) with autojoin, ``name``,
    a nickname if it had none, and evim's mark."""
    conference = ET.Element(
        _tag("conference"), dict(existing.attrib) if existing is not None else {}
    )
    conference.set("name", name)
    conference.set("autojoin", "true")
    for child in [] if existing is None else list(existing):
        conference.append(copy.deepcopy(child))
    if conference.find(_tag("nick")) is None and nick:
        ET.SubElement(conference, _tag("nick")).text = nick
    if _mark(conference) is None:
        extensions = conference.find(_tag("extensions"))
        if extensions is None:
            extensions = ET.SubElement(conference, _tag("extensions"))
        ET.SubElement(extensions, _tag("spaces", MARK_NS), {"structure": structure})
    return conference


async def _publish(session: Session, room: str, conference: ET.Element) -> None:
    pubsub = ET.Element(_tag("pubsub", PUBSUB_NS))
    publish = ET.SubElement(pubsub, _tag("publish", PUBSUB_NS), {"node": BOOKMARKS_NODE})
    ET.SubElement(publish, _tag("item", PUBSUB_NS), {"id": room}).append(conference)
    options = ET.SubElement(pubsub, _tag("publish-options", PUBSUB_NS))
    options.append(forms.submission(PUBLISH_OPTIONS, OPTIONS))
    await session.query("set", pubsub)


async def _retract(session: Session, room: str) -> None:
    pubsub = ET.Element(_tag("pubsub", PUBSUB_NS))
    retract = ET.SubElement(
        pubsub, _tag("retract", PUBSUB_NS), {"node": BOOKMARKS_NODE, "notify": "true"}
    )
    ET.SubElement(retract, _tag("item", PUBSUB_NS), {"id": room})
    await session.query("set", pubsub)


async def sync_bookmarks(
    session: Session,
    *,
    rooms: Mapping[str, str],
    nick: str,
    structure: str,
    apply: bool,
) -> tuple[str, ...]:
    """Bookmark ``rooms`` (JID → name) with autojoin; retract the bookmarks ``structure``
    (the structure's room JID, its mark) published of rooms no longer in ``rooms``.
    Returns "+room" / "-room" for what changed (or would)."""
    existing = await read_bookmarks(session)
    details: list[str] = []
    for room, name in sorted(rooms.items()):
        conference = existing.get(room)
        autojoin = None if conference is None else conference.get("autojoin")
        if conference is None or autojoin not in ("true", "1") or conference.get("name") != name:
            details.append(f"+{room}")
            if apply:
                await _publish(
                    session,
                    room,
                    _conference(conference, name=name, nick=nick, structure=structure),
                )
    for room, conference in sorted(existing.items()):
        if room not in rooms and _mark(conference) == structure:
            details.append(f"-{room}")
            if apply:
                await _retract(session, room)
    return tuple(details)
