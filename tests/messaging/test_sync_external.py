"""``evim sync`` against an external XMPP server: a Prosody evim does not run, its accounts
registered there beforehand, evim logging in as each user with their stored passwords.

The server is evim's Prosody configuration with Prosody's default room locking (a room a
client creates stays locked until its owner submits the configuration), started for this
module; every test has rooms and accounts of its own on it.  What evim did is checked by
real clients (slixmpp) logged in as the colleagues, never through the server's internals.
"""

from __future__ import annotations

import asyncio
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import translation
from pytest_django.fixtures import Settings as SettingsWrapper
from slixmpp import JID
from slixmpp.exceptions import IqError

from evim.backoffice import actions as backoffice_actions
from evim.backoffice.models import AuditEntry, User
from evim.managed_server.layout import ServerLayout
from evim.managed_server.supervisor import ProsodySupervisor
from evim.messaging import actions
from evim.messaging.project_config import get_messaging_config
from evim.messaging.sync import do_sync
from tests.fixtures.prosody import RunningProsody, make_layout, running_prosody
from tests.managed_server.xmpp_client import TIMEOUT, Client, logged_in
from tests.messaging.test_sync import _bookmarks, _can_enter, _roster

STRUCTURE = "Théâtre des Lilas"
DOMAIN = "external.test"
MUC_OWNER_NS = "http://jabber.org/protocol/muc#owner"
ROSTER_NS = "jabber:iq:roster"


class LockingProsody(ProsodySupervisor):
    """evim's Prosody, except that new rooms are locked until configured (Prosody's
    default, and most servers')."""

    def _prepare(self) -> list[str]:
        command = super()._prepare()
        config = self.layout.config_path
        text = config.read_text()
        assert "muc_room_locking = false" in text, "evim's configuration changed: adapt"
        config.write_text(text.replace("muc_room_locking = false", "muc_room_locking = true"))
        return command


@pytest.fixture(scope="module")
def external_prosody(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProsody]:
    layout = make_layout(tmp_path_factory.mktemp("external-prosody") / "prosody", domain=DOMAIN)
    with running_prosody(
        layout, name="external-prosody", supervisor_class=LockingProsody
    ) as prosody:
        yield prosody


@dataclass
class Server:
    """The external server as a test sees it, and this test's rooms on it."""

    prosody: RunningProsody
    tag: str
    own: str
    common: str
    #: JID → password, as registered on the server.
    passwords: dict[str, str]

    @property
    def layout(self) -> ServerLayout:
        return self.prosody.layout

    def register(self, name: str) -> str:
        """A new account on the server (outside the back office); its JID."""
        localpart = f"{name}-{self.tag}"
        password = f"secret-{uuid.uuid4().hex[:12]}"
        jid = self.prosody.register(localpart, password)
        self.passwords[jid] = password
        return jid

    def give_account(self, user: User, *, stored_password: str | None = None) -> str:
        """Register ``user``'s account on the server and map it in the back office (with
        ``stored_password`` instead of the right one, if given)."""
        jid = self.register(user.username)
        password = stored_password if stored_password is not None else self.passwords[jid]
        actions.do_create_account(acting_user=None, user=user, jid=jid, password=password)
        return jid


@pytest.fixture
def server(
    external_prosody: RunningProsody, messaging_enabled: Path, settings: SettingsWrapper
) -> Server:
    """evim pointed at the external server, with a structure room and a common room of
    this test's own."""
    layout = external_prosody.layout
    tag = uuid.uuid4().hex[:8]
    own, common = f"lilas-{tag}@{layout.muc_host}", f"public-{tag}@{layout.muc_host}"
    messaging_enabled.write_text(
        f"all:\n  messaging:\n    enable: true\n    chatrooms: [{own}, {common}]\n"
    )
    get_messaging_config.cache_clear()
    settings.EVIM_XMPP_SERVER = "external"
    settings.EVIM_XMPP_DOMAIN = layout.domain
    settings.EVIM_XMPP_MUC_HOST = layout.muc_host
    settings.EVIM_XMPP_HOST = layout.c2s_host
    settings.EVIM_XMPP_C2S_PORT = layout.c2s_port
    settings.EVIM_XMPP_CA_FILE = str(layout.certificate_path)
    settings.EVIM_XMPP_ADDRESS_OVERRIDES = ""
    settings.EVIM_XMPP_TIMEOUT = TIMEOUT
    settings.EVIM_STRUCTURE_NAME = STRUCTURE
    settings.EVIM_STRUCTURE_ROOM = ""
    return Server(external_prosody, tag, own, common, {})


# --- what a client sees -------------------------------------------------------------------------


async def _room_features(client: Client, room: str) -> set[str] | None:
    """The room's disco#info features; None when there is no such room."""
    try:
        info: Any = await client.plugin["xep_0030"].get_info(jid=JID(room), timeout=TIMEOUT)
    except IqError as error:
        if error.condition == "item-not-found":
            return None
        raise
    return set(info["disco_info"]["features"])


async def _roster_items(client: Client) -> dict[str, ET.Element]:
    """Every roster item, whatever its subscription (the whole roster: slixmpp's
    get_roster asks only for what changed since its last request)."""
    iq: Any = client.make_iq_get(queryxmlns=ROSTER_NS)
    reply: Any = await iq.send(timeout=TIMEOUT)
    query = reply.xml.find(f"{{{ROSTER_NS}}}query")
    return {item.get("jid"): item for item in query.findall(f"{{{ROSTER_NS}}}item")}


async def _add_contact(client: Client, jid: str, name: str, group: str) -> None:
    """What a user's own client does to add a contact of theirs."""
    query = ET.Element(f"{{{ROSTER_NS}}}query")
    item = ET.SubElement(query, f"{{{ROSTER_NS}}}item", {"jid": jid, "name": name})
    ET.SubElement(item, f"{{{ROSTER_NS}}}group").text = group
    iq: Any = client.make_iq_set()
    iq.xml.append(query)
    await iq.send(timeout=TIMEOUT)


async def _create_room_of_its_own(client: Client, room: str) -> None:
    """Create a persistent room as ``client`` (which thereby owns it)."""
    entered = asyncio.get_running_loop().create_future()

    def on_presence(presence: Any) -> None:
        if presence["from"].bare == room and not entered.done():
            entered.set_result(presence["type"])

    client.add_event_handler("presence", on_presence)
    client.register_plugin("xep_0045")
    client.plugin["xep_0045"].join_muc(JID(room), "Olga")
    assert await asyncio.wait_for(entered, TIMEOUT) != "error"
    client.del_event_handler("presence", on_presence)
    form = ET.fromstring(
        f"<query xmlns='{MUC_OWNER_NS}'><x xmlns='jabber:x:data' type='submit'>"
        "<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>"
        "<field var='muc#roomconfig_persistentroom'><value>1</value></field></x></query>"
    )
    iq: Any = client.make_iq_set(ito=room)
    iq.xml.append(form)
    await iq.send(timeout=TIMEOUT)


def _lines_with(lines: list[str], text: str) -> list[str]:
    return [line for line in lines if text in line]


# --- the scenarios --------------------------------------------------------------------------------


def test_colleagues_find_the_spaces_on_the_external_server(
    camille: User, jeanne: User, oliver: User, server: Server
) -> None:
    camille_jid = server.give_account(camille)
    jeanne_jid = server.give_account(jeanne)
    oliver_jid = server.give_account(oliver)
    outsider = server.register("olga")  # on the server, not in the back office
    own, common = server.own, server.common
    layout = server.layout

    # A dry run logs in and compares: it says what it would do, and does nothing.
    output = StringIO()
    call_command("sync", "--dry-run", stdout=output, stderr=StringIO())
    plan = output.getvalue()
    assert own in plan and common in plan and jeanne_jid in plan

    async def nothing_yet() -> None:
        async with logged_in(layout, jeanne_jid, server.passwords[jeanne_jid]) as client:
            assert await _roster_items(client) == {}
            assert await _bookmarks(client) == {}
            assert await _room_features(client, own) is None

    asyncio.run(nothing_yet())

    steps: list[tuple[str, int, int]] = []
    with translation.override("en"):
        report = do_sync(
            acting_user=camille,
            progress=lambda label, done, total: steps.append((label, done, total)),
        )
    assert report.changed and report.not_done == []
    assert _lines_with(report.changes, own) and _lines_with(report.changes, common)
    assert ("contacts", 3, 3) in steps and ("bookmarks", 3, 3) in steps
    assert AuditEntry.objects.filter(event="spaces_synced", acting_user=camille).exists()

    # A second run finds everything in place.
    again = do_sync(acting_user=camille)
    assert again.changes == [] and again.not_done == []

    async def as_jeanne() -> None:
        async with logged_in(layout, jeanne_jid, server.passwords[jeanne_jid]) as client:
            client.register_plugin("xep_0060")
            assert await _roster(client) == {
                camille_jid: ("Camille Martin", (STRUCTURE,)),
                oliver_jid: ("Oliver Bennett", (STRUCTURE,)),
            }
            assert await _bookmarks(client) == {own: "true", common: "true"}
            features = await _room_features(client, own)
            assert features is not None
            assert {"muc_membersonly", "muc_persistent", "muc_hidden"} <= features
            assert "urn:xmpp:mam:2" in features  # archived
            common_features = await _room_features(client, common)
            assert common_features is not None
            assert {"muc_open", "muc_persistent", "muc_public"} <= common_features
            assert await _can_enter(client, own, "Jeanne Durand")

    async def as_the_outsider() -> None:
        async with logged_in(layout, outsider, server.passwords[outsider]) as client:
            assert not await _can_enter(client, own, "Olga")
            assert await _can_enter(client, common, "Olga")

    asyncio.run(as_jeanne())
    asyncio.run(as_the_outsider())


def test_a_user_who_leaves_loses_membership_and_contacts(
    camille: User, jeanne: User, oliver: User, server: Server
) -> None:
    camille_jid = server.give_account(camille)
    jeanne_jid = server.give_account(jeanne)
    oliver_jid = server.give_account(oliver)
    friend = f"friend-{server.tag}@elsewhere.example"
    jeanne_password = server.passwords[jeanne_jid]
    layout = server.layout

    async def jeanne_adds_a_friend() -> None:
        async with logged_in(layout, jeanne_jid, jeanne_password) as client:
            await _add_contact(client, friend, "Un ami", "Amis")
            # ... and a colleague of hers, in her own group too.
            await _add_contact(client, camille_jid, "Camille", "Favoris")

    asyncio.run(jeanne_adds_a_friend())
    assert do_sync(acting_user=camille).changed

    backoffice_actions.do_delete_user(acting_user=camille, user=oliver)
    report = do_sync(acting_user=camille)
    assert _lines_with(report.changes, oliver_jid)
    assert report.not_done == []
    assert not do_sync(acting_user=camille).changed

    async def after() -> None:
        async with logged_in(layout, jeanne_jid, jeanne_password) as client:
            roster = await _roster(client)
            assert list(roster) == [camille_jid]
            name, groups = roster[camille_jid]
            assert name == "Camille Martin" and set(groups) == {"Favoris", STRUCTURE}
            items = await _roster_items(client)
            assert oliver_jid not in items
            assert items[friend].get("name") == "Un ami"  # her own contact, untouched
        async with logged_in(layout, oliver_jid, server.passwords[oliver_jid]) as client:
            assert not await _can_enter(client, server.own, "Oliver")
            assert await _roster(client) == {}  # nobody sees him any more, nor he them

    asyncio.run(after())


def test_a_wrong_password_is_reported_and_the_others_are_done(
    camille: User, jeanne: User, oliver: User, server: Server
) -> None:
    camille_jid = server.give_account(camille)
    jeanne_jid = server.give_account(jeanne)
    oliver_jid = server.give_account(oliver, stored_password="not-the-password")

    report = do_sync(acting_user=camille)  # in the back office's language, French
    failures = _lines_with(report.not_done, oliver_jid)
    assert len(failures) == 1 and "mot de passe" in failures[0]
    assert "not-the-password" not in "\n".join(report.not_done + report.changes)
    assert _lines_with(report.changes, server.own)

    async def as_jeanne() -> None:
        async with logged_in(server.layout, jeanne_jid, server.passwords[jeanne_jid]) as client:
            client.register_plugin("xep_0060")
            assert camille_jid in await _roster(client)
            assert (await _roster_items(client))[oliver_jid].get("ask") == "subscribe"
            assert await _bookmarks(client) == {server.own: "true", server.common: "true"}
            # Oliver is a member of the room all the same: membership needs no login.
            assert await _can_enter(client, server.own, "Jeanne")

    asyncio.run(as_jeanne())
    assert _lines_with(do_sync(acting_user=camille).not_done, oliver_jid)


def test_a_room_evim_does_not_own_is_reported(camille: User, jeanne: User, server: Server) -> None:
    server.give_account(camille)
    jeanne_jid = server.give_account(jeanne)
    outsider = server.register("olga")

    async def the_outsider_takes_the_common_room() -> None:
        async with logged_in(server.layout, outsider, server.passwords[outsider]) as client:
            await _create_room_of_its_own(client, server.common)

    asyncio.run(the_outsider_takes_the_common_room())
    with translation.override("en"):
        report = do_sync(acting_user=camille)
    refused = _lines_with(report.not_done, server.common)
    assert len(refused) == 1 and "owner" in refused[0]
    assert _lines_with(report.changes, server.own)  # the structure's room is done

    async def as_jeanne() -> None:
        async with logged_in(server.layout, jeanne_jid, server.passwords[jeanne_jid]) as client:
            client.register_plugin("xep_0060")
            # Bookmarked all the same: it is one of the structure's rooms.
            assert await _bookmarks(client) == {server.own: "true", server.common: "true"}

    asyncio.run(as_jeanne())
