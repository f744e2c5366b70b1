"""``evim sync`` on the real managed Prosody: the structure's room, the common room,
colleagues as contacts and bookmarks, seen by real clients (slixmpp, go-sendxmpp)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
import xml.etree.ElementTree as ET
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from pytest_django.fixtures import Settings as SettingsWrapper
from slixmpp import JID
from slixmpp.exceptions import IqError

from evim.backoffice import actions as backoffice_actions
from evim.backoffice.models import AuditEntry, User
from evim.managed_server.admin_shell import AdminShell
from evim.managed_server.bookmarks import BOOKMARKS_NODE
from evim.managed_server.rooms import RoomConfig, RoomManager
from evim.managed_server.spaces import Member, SpacesPlan, sync_spaces
from evim.messaging import actions, encryption, sync_worker
from evim.messaging.models import JabberAccount
from evim.messaging.project_config import get_messaging_config
from evim.messaging.sync import do_sync
from tests.fixtures.prosody import RunningProsody
from tests.managed_server.xmpp_client import TIMEOUT, logged_in

GO_SENDXMPP = "/usr/bin/go-sendxmpp"
STRUCTURE = "Théâtre des Lilas"


@pytest.fixture
def rooms(
    on_managed_prosody: RunningProsody, messaging_enabled: Path, settings: SettingsWrapper
) -> tuple[str, str]:
    """A structure room and a common room of their own (the session's Prosody is shared)."""
    tag = uuid.uuid4().hex[:8]
    muc = on_managed_prosody.muc_host
    own, common = f"lilas-{tag}@{muc}", f"public-{tag}@{muc}"
    messaging_enabled.write_text(
        f"all:\n  messaging:\n    enable: true\n    chatrooms: [{own}, {common}]\n"
    )
    get_messaging_config.cache_clear()
    settings.EVIM_STRUCTURE_NAME = STRUCTURE
    settings.EVIM_STRUCTURE_ROOM = ""  # the first chatroom on the managed MUC host
    return own, common


def _password(user: User) -> str:
    return encryption.decrypt_password(JabberAccount.objects.get(user=user).password_encrypted)


def _jid(user: User) -> str:
    return JabberAccount.objects.get(user=user).jid


async def _roster(client: Any) -> dict[str, tuple[str, tuple[str, ...]]]:
    reply = await client.get_roster(timeout=TIMEOUT)
    return {
        str(item["jid"]): (item["name"], tuple(item["groups"]))
        for item in reply["roster"]
        if item["subscription"] == "both"
    }


async def _bookmarks(client: Any) -> dict[str, str | None]:
    try:
        reply = await client.plugin["xep_0060"].get_items(
            JID(client.boundjid.bare), BOOKMARKS_NODE, timeout=TIMEOUT
        )
    except IqError as error:
        if error.condition == "item-not-found":
            return {}
        raise
    found = {}
    for item in reply["pubsub"]["items"]:
        conference = item.xml.find(f"{{{BOOKMARKS_NODE}}}conference")
        found[item["id"]] = conference.get("autojoin")
    return found


async def _legacy_bookmarks(client: Any) -> set[str]:
    """XEP-0048 bookmarks in private XML storage, as older clients read them."""
    query = client.make_iq_get(ito=None)
    query.xml.append(
        ET.fromstring(
            "<query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query>"
        )
    )
    reply = await query.send(timeout=TIMEOUT)
    return {
        element.get("jid")
        for element in reply.xml.iter("{storage:bookmarks}conference")
        if element.get("autojoin") in ("true", "1")
    }


async def _can_enter(client: Any, room: str, nick: str) -> bool:
    """Join ``room``: True once in, False on an error presence (join_muc_wait does not
    raise on one: its own presence_error is awaited alongside)."""
    client.register_plugin("xep_0045")
    outcome: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    def on_error(presence: Any) -> None:
        if presence["from"].bare == room and not outcome.done():
            outcome.set_result(False)

    def on_joined(_presence: Any) -> None:
        if not outcome.done():
            outcome.set_result(True)

    client.add_event_handler("presence_error", on_error)
    client.add_event_handler(f"muc::{room}::self-presence", on_joined)
    try:
        client.plugin["xep_0045"].join_muc(JID(room), nick)
        return await asyncio.wait_for(outcome, TIMEOUT)
    finally:
        client.del_event_handler("presence_error", on_error)
        client.del_event_handler(f"muc::{room}::self-presence", on_joined)


def _provision(camille: User, *users: User) -> None:
    report = actions.do_provision_accounts(acting_user=camille, users=[camille, *users])
    assert not report.failed


def test_a_colleague_sees_the_spaces_in_an_external_client(
    camille: User,
    jeanne: User,
    oliver: User,
    ines: User,
    rooms: tuple[str, str],
    on_managed_prosody: RunningProsody,
    tmp_path: Path,
) -> None:
    own, common = rooms
    _provision(camille, jeanne, oliver, ines)
    dry = do_sync(acting_user=camille, dry_run=True)
    assert any(own in line for line in dry.changes)
    assert any(common in line for line in dry.changes)
    # The dry run changed nothing on the server.
    layout = on_managed_prosody.layout

    async def room_exists() -> bool:
        async with AdminShell.for_layout(layout) as shell:
            return await RoomManager(shell, layout.muc_host).exists(own)

    assert not asyncio.run(room_exists())

    report = do_sync(acting_user=camille)
    assert report.changed and not report.not_done
    assert AuditEntry.objects.filter(event="spaces_synced", acting_user=camille).exists()
    assert not do_sync(acting_user=camille).changed  # idempotent

    colleagues = {user: _jid(user) for user in (camille, oliver, ines)}
    jeanne_jid, jeanne_password = _jid(jeanne), _password(jeanne)

    async def as_jeanne() -> None:
        async with logged_in(layout, jeanne_jid, jeanne_password) as client:
            client.register_plugin("xep_0060")
            roster = await _roster(client)
            assert roster == {jid: (str(user), (STRUCTURE,)) for user, jid in colleagues.items()}
            assert await _bookmarks(client) == {own: "true", common: "true"}
            assert await _legacy_bookmarks(client) == {own, common}
            assert await _can_enter(client, own, "Jeanne Durand")
            received = asyncio.get_running_loop().create_future()

            def on_message(message: Any) -> None:
                if message["body"] == "Répétition à 18 h" and not received.done():
                    received.set_result(message)

            client.add_event_handler("groupchat_message", on_message)
            client.send_message(mto=JID(own), mbody="Répétition à 18 h", mtype="groupchat")
            await asyncio.wait_for(received, TIMEOUT)

    asyncio.run(as_jeanne())

    # go-sendxmpp, a real external client, posts in the structure's room as Oliver.
    result = subprocess.run(
        [
            GO_SENDXMPP,
            "-u",
            _jid(oliver),
            "-p",
            _password(oliver),
            "-j",
            f"{layout.c2s_host}:{layout.c2s_port}",
            "-n",
            "-c",
            own,
        ],
        input="Bonjour la troupe",
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_names_reach_the_contacts_without_control_characters(
    camille: User, jeanne: User, rooms: tuple[str, str], on_managed_prosody: RunningProsody
) -> None:
    """A back-office name with a control or invisible character (pasted from elsewhere)
    would break the roster push it goes into: the contacts get it cleaned."""
    jeanne.first_name, jeanne.last_name = "Jeanne\u200b", "Dupont\x07\tFille"
    jeanne.save()
    _provision(camille, jeanne)
    do_sync(acting_user=camille)
    login = (_jid(camille), _password(camille))

    async def names() -> dict[str, tuple[str, tuple[str, ...]]]:
        async with logged_in(on_managed_prosody.layout, *login) as client:
            return await _roster(client)

    assert asyncio.run(names())[_jid(jeanne)][0] == "Jeanne Dupont Fille"


def test_membership_follows_the_back_office(
    camille: User,
    jeanne: User,
    oliver: User,
    rooms: tuple[str, str],
    on_managed_prosody: RunningProsody,
) -> None:
    own, common = rooms
    layout = on_managed_prosody.layout
    _provision(camille, jeanne, oliver)
    do_sync(acting_user=camille)
    oliver_jid, oliver_password = _jid(oliver), _password(oliver)

    # Another structure on the same server, synchronised by its own evim.
    other_member = on_managed_prosody.register(f"other-{uuid.uuid4().hex[:6]}", "other-pass")
    other_room = f"other-{uuid.uuid4().hex[:6]}@{layout.muc_host}"
    other_plan = SpacesPlan(
        structure_room=other_room,
        group="Autre structure",
        members=[Member(other_member, "Olga Autre", administrator=True)],
        rooms=[
            RoomConfig(other_room, "Autre", "", members_only=True, public=False),
            RoomConfig(
                common, "Salle commune", "", members_only=False, public=True, labels_once=True
            ),
        ],
        bookmarks={other_room: "Autre", common: "Common room"},
    )
    asyncio.run(sync_spaces(layout, other_plan))
    assert not do_sync(acting_user=camille).changed  # the other structure changed nothing here

    async def affiliation(room: str, jid: str) -> str:
        async with AdminShell.for_layout(layout) as shell:
            host = layout.muc_host
            return await shell.run(
                f'>return prosody.hosts["{host}"].modules.muc.get_room_from_jid("{room}")'
                f':get_affiliation("{jid}") or "none"'
            )

    async def outsider_cannot_enter() -> None:
        async with logged_in(layout, other_member, "other-pass") as client:
            assert not await _can_enter(client, own, "Olga")
            assert await _can_enter(client, other_room, "Olga")

    asyncio.run(outsider_cannot_enter())
    camille_jid = _jid(camille)
    jeanne_jid, jeanne_password = _jid(jeanne), _password(jeanne)
    assert "admin" in asyncio.run(affiliation(common, camille_jid))
    assert "admin" in asyncio.run(affiliation(common, other_member))

    # Oliver leaves the back office: membership and contact go; the other structure stays.
    backoffice_actions.do_delete_user(acting_user=camille, user=oliver)
    report = do_sync(acting_user=camille)
    assert any(oliver_jid in line for line in report.changes)
    assert "none" in asyncio.run(affiliation(own, oliver_jid))
    assert "admin" in asyncio.run(affiliation(common, other_member))

    async def after() -> None:
        async with logged_in(layout, jeanne_jid, jeanne_password) as client:
            assert oliver_jid not in await _roster(client)
        async with logged_in(layout, oliver_jid, oliver_password) as client:
            client.register_plugin("xep_0060")
            assert not await _can_enter(client, own, "Oliver")
            assert await _roster(client) == {}
            assert await _bookmarks(client) == {}
        async with logged_in(layout, other_member, "other-pass") as client:
            assert (await _roster(client)) == {}  # alone in its structure: no colleague
            client.register_plugin("xep_0060")
            assert await _bookmarks(client) == {other_room: "true", common: "true"}

    asyncio.run(after())

    # Camille is no longer an administrator: no longer an admin of the common room.
    backoffice_actions.do_update_user(acting_user=None, user=jeanne, is_superuser=True)
    backoffice_actions.do_update_user(acting_user=None, user=camille, is_superuser=False)
    do_sync(acting_user=None)
    assert "member" in asyncio.run(affiliation(own, camille_jid))
    assert "none" in asyncio.run(affiliation(common, camille_jid))


def test_a_room_deleted_by_hand_comes_back(
    camille: User, jeanne: User, rooms: tuple[str, str], on_managed_prosody: RunningProsody
) -> None:
    own, _common = rooms
    layout = on_managed_prosody.layout
    _provision(camille, jeanne)
    do_sync(acting_user=camille)

    async def destroy() -> bool:
        async with AdminShell.for_layout(layout) as shell:
            return await RoomManager(shell, layout.muc_host).destroy(own)

    assert asyncio.run(destroy())
    jeanne_jid, jeanne_password = _jid(jeanne), _password(jeanne)
    output = StringIO()
    call_command("sync", "--dry-run", stdout=output, stderr=StringIO())
    assert own in output.getvalue()
    assert asyncio.run(destroy()) is False  # the dry run did not re-create it
    output = StringIO()
    call_command("sync", stdout=output, stderr=StringIO())
    assert own in output.getvalue()

    async def jeanne_enters() -> bool:
        async with logged_in(layout, jeanne_jid, jeanne_password) as client:
            return await _can_enter(client, own, "Jeanne")

    assert asyncio.run(jeanne_enters())
    output = StringIO()
    call_command("sync", stdout=output, stderr=StringIO())
    assert "Nothing to change" in output.getvalue() or "Rien à changer" in output.getvalue()


def test_external_server_is_reported(
    camille: User, rooms: tuple[str, str], settings: SettingsWrapper
) -> None:
    settings.EVIM_XMPP_SERVER = "external"
    report = do_sync(acting_user=camille)
    assert not report.changed
    assert report.not_done and rooms[0] in report.not_done[0]


@pytest.mark.django_db(transaction=True)
def test_changes_trigger_a_sync_in_the_background(
    rooms: tuple[str, str], on_managed_prosody: RunningProsody, settings: SettingsWrapper
) -> None:
    settings.EVIM_SYNC_AUTOMATIC = True
    camille = backoffice_actions.do_create_user(
        acting_user=None,
        username="camille",
        password="correct-horse-battery-42",
        first_name="Camille",
        last_name="Martin",
        is_administrator=True,
    )
    runs = sync_worker.worker.runs
    actions.do_provision_accounts(acting_user=camille, users=[camille])
    assert sync_worker.worker.wait_idle(timeout=60)
    assert sync_worker.worker.runs > runs
    assert sync_worker.worker.last_error is None
    assert not do_sync(acting_user=None).changed  # the background sync did everything
