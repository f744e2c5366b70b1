"""Two structures on one server, for real (README: "Several structures on one server"): two
``evim run`` processes, each with its own database, keys, structure room and contact group,
on the one managed Prosody the first runs, with a common room.  Changes go through evim's
own commands, and the automatic sync of each evim does the rest."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from evim.managed_server.layout import ServerLayout
from tests.fixtures.live_evim import LiveEvim, running_evim
from tests.managed_server.xmpp_client import logged_in
from tests.messaging.test_sync import _bookmarks, _can_enter, _roster

LILAS_ROOM = "lilas@conference.localhost"
ROND_ROOM = "rond@conference.localhost"
COMMON = "commun@conference.localhost"
AUTOMATIC = {"EVIM_SYNC_AUTOMATIC": "1"}

READ_ACCOUNT = (
    "from evim.messaging.encryption import decrypt_password\n"
    "from evim.messaging.models import JabberAccount\n"
    "account = JabberAccount.objects.get(user__username={username!r})\n"
    "print(account.jid, decrypt_password(account.password_encrypted))\n"
)


@pytest.fixture(scope="module")
def lilas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveEvim]:
    """Théâtre des Lilas: camille (administrator), jeanne, oliver; runs the Prosody."""
    with running_evim(
        tmp_path_factory.mktemp("lilas"), AUTOMATIC, chatrooms=(LILAS_ROOM, COMMON)
    ) as instance:
        yield instance


@pytest.fixture(scope="module")
def rond(tmp_path_factory: pytest.TempPathFactory, lilas: LiveEvim) -> Iterator[LiveEvim]:
    """Théâtre du Rond-Point, on the Lilas' Prosody: its own camille, jeanne and oliver."""
    with running_evim(
        tmp_path_factory.mktemp("rond"),
        AUTOMATIC,
        structure="Théâtre du Rond-Point",
        chatrooms=(ROND_ROOM, COMMON),
        sharing_server_of=lilas,
    ) as instance:
        yield instance


def account(evim: LiveEvim, username: str) -> tuple[str, str]:
    output = evim.evim("shell", "-c", READ_ACCOUNT.format(username=username)).stdout
    jid, password = output.splitlines()[-1].split()
    return jid, password


def layout_of(evim: LiveEvim) -> ServerLayout:
    script = "from evim.managed_server.layout import ServerLayout\n"
    script += "print(ServerLayout.from_settings().to_json())"
    return ServerLayout.from_json(evim.evim("shell", "-c", script).stdout.splitlines()[-1])


def what_they_see(evim: LiveEvim, username: str, rooms: tuple[str, ...]) -> dict[str, Any]:
    """A colleague's external client: roster, bookmarks, and which rooms let them in."""
    jid, password = account(evim, username)

    async def look() -> dict[str, Any]:
        async with logged_in(layout_of(evim), jid, password) as client:
            return {
                "roster": await _roster(client),
                "bookmarks": await _bookmarks(client),
                "enters": {room: await _can_enter(client, room, username) for room in rooms},
            }

    return asyncio.run(look())


def test_two_structures_on_one_server(lilas: LiveEvim, rond: LiveEvim) -> None:
    # Each structure's evim provisions its people; its automatic sync does the spaces
    # before the command exits.
    lilas.evim("accounts", "provision", "camille", "jeanne", "oliver")
    rond.evim("accounts", "provision", "camille", "jeanne", "oliver")
    lilas_jids = {name: account(lilas, name)[0] for name in ("camille", "jeanne", "oliver")}
    rond_jids = {name: account(rond, name)[0] for name in ("camille", "jeanne", "oliver")}
    # Same user names, distinct accounts on the shared server.
    assert set(lilas_jids.values()).isdisjoint(rond_jids.values())

    for evim in (lilas, rond):
        assert "Rien à changer" in evim.evim("sync", "--dry-run").stdout

    jeanne_lilas = what_they_see(lilas, "jeanne", (LILAS_ROOM, ROND_ROOM, COMMON))
    assert {jid: entry[1] for jid, entry in jeanne_lilas["roster"].items()} == {
        lilas_jids["camille"]: ("Théâtre des Lilas",),
        lilas_jids["oliver"]: ("Théâtre des Lilas",),
    }
    assert set(jeanne_lilas["bookmarks"]) == {LILAS_ROOM, COMMON}
    assert jeanne_lilas["enters"] == {LILAS_ROOM: True, ROND_ROOM: False, COMMON: True}

    oliver_rond = what_they_see(rond, "oliver", (LILAS_ROOM, ROND_ROOM, COMMON))
    assert {jid: entry[1] for jid, entry in oliver_rond["roster"].items()} == {
        rond_jids["camille"]: ("Théâtre du Rond-Point",),
        rond_jids["jeanne"]: ("Théâtre du Rond-Point",),
    }
    assert set(oliver_rond["bookmarks"]) == {ROND_ROOM, COMMON}
    assert oliver_rond["enters"] == {LILAS_ROOM: False, ROND_ROOM: True, COMMON: True}

    # One structure's change stays in that structure: the Rond-Point's jeanne leaves;
    # the Lilas' jeanne keeps everything.
    rond.evim("accounts", "remove", "jeanne")
    oliver_rond = what_they_see(rond, "oliver", ())
    assert set(oliver_rond["roster"]) == {rond_jids["camille"]}
    jeanne_lilas = what_they_see(lilas, "jeanne", (LILAS_ROOM,))
    assert set(jeanne_lilas["roster"]) == {lilas_jids["camille"], lilas_jids["oliver"]}
    assert jeanne_lilas["enters"] == {LILAS_ROOM: True}
    assert "Rien à changer" in lilas.evim("sync", "--dry-run").stdout
