"""Colleagues as contacts, written by the user's own session (RFC 6121): :func:`sync_contacts`.

In one user's session, every colleague becomes a roster item in the structure's group
under their full name (a roster set), and the subscription is made mutual by the
protocol itself: the user asks for the colleague's presence (``subscribe``) and approves
the colleague's request (``subscribed``: an answer if the colleague already asked, else a
pre-approval, RFC 6121 §3.4).  evim does the same in the colleague's session, so the two
halves meet whichever runs first; on a server without pre-approval, the first user's
approval comes when their session runs again (:attr:`ContactsChange.requested`).

Only items carrying the structure's group are evim's: a colleague who left loses the
group (and the item, when it was the only group, which also cancels both subscriptions);
contacts the user added, and their other groups, stay as they are.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from evim.xmpp.session import RequestFailed, Session

ROSTER_NS = "jabber:iq:roster"
PING_NS = "urn:xmpp:ping"
#: A change lists the contacts it touches when there are at most this many.
DETAIL_LIMIT = 20


@dataclass(frozen=True)
class RosterItem:
    jid: str
    name: str
    subscription: str
    #: A subscription request of the user's is pending.
    asked: bool
    groups: frozenset[str]


@dataclass(frozen=True)
class ContactsChange:
    """What changed (or would change) in one roster."""

    added: int
    changed: int
    removed: int
    #: "+jid" / "~jid" / "-jid", when there are few.
    details: tuple[str, ...]
    #: Subscription requests or approvals were sent (or would be).
    requested: bool

    @property
    def count(self) -> int:
        return self.added + self.changed + self.removed


async def read_roster(session: Session) -> dict[str, RosterItem]:
    """The user's roster, by bare JID."""
    query = await session.query("get", ET.Element(f"{{{ROSTER_NS}}}query"))
    items: dict[str, RosterItem] = {}
    for element in [] if query is None else query.findall(f"{{{ROSTER_NS}}}item"):
        jid = element.get("jid", "")
        if jid:
            items[jid] = RosterItem(
                jid=jid,
                name=element.get("name", ""),
                subscription=element.get("subscription", "none"),
                asked=element.get("ask") == "subscribe",
                groups=frozenset(
                    group.text or "" for group in element.findall(f"{{{ROSTER_NS}}}group")
                ),
            )
    return items


async def _set_item(session: Session, jid: str, name: str, groups: Collection[str]) -> None:
    query = ET.Element(f"{{{ROSTER_NS}}}query")
    item = ET.SubElement(query, f"{{{ROSTER_NS}}}item", {"jid": jid, "name": name})
    for group in sorted(groups):
        ET.SubElement(item, f"{{{ROSTER_NS}}}group").text = group
    await session.query("set", query)


async def _remove_item(session: Session, jid: str) -> None:
    query = ET.Element(f"{{{ROSTER_NS}}}query")
    ET.SubElement(query, f"{{{ROSTER_NS}}}item", {"jid": jid, "subscription": "remove"})
    await session.query("set", query)


async def _barrier(session: Session) -> None:
    """Return once the server has processed every stanza sent so far: it handles a
    stream's stanzas in order, so any answer to a ping (even an error) will do."""
    try:
        await session.query("get", ET.Element(f"{{{PING_NS}}}ping"), to=session.domain)
    except RequestFailed as error:
        if error.condition in ("timeout", "connection-lost"):
            raise


async def sync_contacts(
    session: Session,
    *,
    group: str,
    contacts: Mapping[str, str],
    peers: Collection[str],
    apply: bool,
) -> ContactsChange | None:
    """Make the items of ``group`` in the session's roster exactly ``contacts`` (JID →
    full name; the user themself excepted), subscribed both ways.  ``peers``: the
    colleagues evim logs in as too (they will answer).  Returns what changed, or ``None``
    when nothing did (or would)."""
    roster = await read_roster(session)
    own = session.jid
    added: list[str] = []
    changed: list[str] = []
    removed: list[str] = []
    presences: list[tuple[str, str]] = []
    for jid, name in sorted(contacts.items()):
        if jid == own:
            continue
        item = roster.get(jid)
        write = item is None or item.name != name or group not in item.groups
        subscribe = item is None or (item.subscription in ("none", "from") and not item.asked)
        # Approving again is only useful when it may answer a request that came since (a
        # server without pre-approval has not kept the first one).
        approve = (
            item is None
            or item.subscription == "to"
            or (item.subscription == "none" and (not item.asked or not session.preapproval))
        )
        if approve and jid not in peers and not (write or subscribe):
            # A colleague evim does not log in as may never ask: approving them again at
            # every sync would report a change every time.
            approve = False
        if not (write or subscribe or approve):
            continue
        (added if item is None else changed).append(jid)
        if not apply:
            if subscribe:
                presences.append((jid, "subscribe"))
            if approve:
                presences.append((jid, "subscribed"))
            continue
        if write:
            groups = {group} | (item.groups if item is not None else frozenset())
            await _set_item(session, jid, name, groups)
        if subscribe:
            session.send_presence(jid, "subscribe")
            presences.append((jid, "subscribe"))
        if approve:
            session.send_presence(jid, "subscribed")
            presences.append((jid, "subscribed"))
    for jid, item in sorted(roster.items()):
        if group in item.groups and jid not in contacts and jid != own:
            removed.append(jid)
            if apply:
                if item.groups == {group}:
                    await _remove_item(session, jid)
                else:
                    await _set_item(session, jid, item.name, item.groups - {group})
    if presences and apply:
        await _barrier(session)
    count = len(added) + len(changed) + len(removed)
    if not count:
        return None
    details: tuple[str, ...] = ()
    if count <= DETAIL_LIMIT:
        details = (
            *(f"+{jid}" for jid in added),
            *(f"~{jid}" for jid in changed),
            *(f"-{jid}" for jid in removed),
        )
    return ContactsChange(
        len(added), len(changed), len(removed), details, requested=bool(presences)
    )
