"""The Statistics option end to end: a real evim with its managed Prosody, colleagues chatting
through the gateway (WebSocket and BOSH); when evim stops it saves the day's counts — and
nothing of what was said.  With the option off, nothing at all.

Read each test as a script: who connects, what they send, what is in the database after."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tests.fixtures.live_evim import LiveEvim, running_evim
from tests.gateway.test_bosh import bosh_for
from tests.gateway.test_gateway_websocket import logged_in, start

WORDS = ("Répétition générale à 20 h", "Le décor arrive demain", "Merci, à ce soir")

ROWS = (
    "import json\n"
    "from evim.gateway.models import DailyActiveUser, DailyUsage\n"
    "print(json.dumps({'rows': list(DailyUsage.objects.values("
    "'websocket_streams', 'bosh_streams', 'messages_from_browsers', 'messages_to_browsers', "
    "'active_users')), 'who': DailyActiveUser.objects.count()}))\n"
)
PAGE = (
    "from django.test import Client\n"
    "from evim.backoffice.models import User\n"
    "client = Client(HTTP_HOST='127.0.0.1')\n"
    "client.force_login(User.objects.get(username='camille'))\n"
    "print(client.get('/service/statistics/').content.decode())\n"
)


def message(to: str, text: str, number: int) -> str:
    return (
        f"<message xmlns='jabber:client' to='{to}' type='chat' id='s{number}'>"
        f"<body>{text}</body></message>"
    )


async def chat(evim: LiveEvim) -> None:
    """Camille and Jeanne on the WebSocket gateway: three messages with words, one "is
    typing" without; Jeanne also opens a BOSH stream (logged in, no resource)."""
    camille, camille_jid = await start(evim, logged_in(evim, "camille"))
    jeanne, jeanne_jid = await start(evim, logged_in(evim, "jeanne"))
    await camille.send(message(jeanne_jid, WORDS[0], 1))
    await camille.send(
        f"<message xmlns='jabber:client' to='{jeanne_jid}' type='chat' id='s2'>"
        "<composing xmlns='http://jabber.org/protocol/chatstates'/></message>"
    )
    await camille.send(message(jeanne_jid, WORDS[1], 3))
    assert WORDS[0] in await jeanne.receive_until(WORDS[0])
    assert WORDS[1] in await jeanne.receive_until(WORDS[1])
    await jeanne.send(message(camille_jid, WORDS[2], 4))
    assert WORDS[2] in await camille.receive_until(WORDS[2])

    session = logged_in(evim, "jeanne")
    token = session.credentials()["password"]
    bosh = bosh_for(evim, session)
    await asyncio.to_thread(bosh.create)
    assert "<success" in await asyncio.to_thread(bosh.authenticate, "jeanne", token)
    restarted = await asyncio.to_thread(bosh.send, xmpp_restart="true")
    assert "urn:ietf:params:xml:ns:xmpp-bind" in restarted, restarted
    await asyncio.to_thread(bosh.send, type="terminate")
    for client in (camille, jeanne):
        await client.connection.close()


def saved(evim: LiveEvim) -> dict[str, object]:
    found: dict[str, object] = json.loads(evim.evim("shell", "--verbosity=0", "-c", ROWS).stdout)
    return found


def test_a_day_of_chat_is_counted_never_its_words(tmp_path: Path) -> None:
    with running_evim(tmp_path) as evim:
        evim.evim("accounts", "provision", "camille", "jeanne")
        asyncio.run(chat(evim))
    # evim stopped: it saved what it counted.

    assert saved(evim) == {
        "rows": [
            {
                "websocket_streams": 2,
                "bosh_streams": 1,
                "messages_from_browsers": 3,  # "is typing" is not a message
                "messages_to_browsers": 3,
                "active_users": 2,
            }
        ],
        "who": 2,  # who was active today, until the day is over
    }
    dump = evim.evim("dumpdata", "--indent=0").stdout
    assert '"model": "gateway.dailyusage"' in dump
    database = [path for path in tmp_path.iterdir() if ".sqlite3" in path.name]
    assert database, list(tmp_path.iterdir())
    page = evim.evim("shell", "--verbosity=0", "-c", PAGE).stdout
    assert '<dd data-total="sent">3</dd>' in page and page.count('class="chart" id="chart-') == 3
    for words in WORDS:
        assert words not in dump
        assert words not in page
        for path in database:
            assert words.encode() not in path.read_bytes(), path


def test_with_statistics_off_nothing_is_recorded(tmp_path: Path) -> None:
    off = (
        "from evim.service.actions import do_change_service_settings\n"
        "do_change_service_settings(acting_user=None, values={'statistics': False})\n"
    )
    with running_evim(tmp_path, setup=off) as evim:
        evim.evim("accounts", "provision", "camille", "jeanne")
        asyncio.run(chat(evim))

    assert saved(evim) == {"rows": [], "who": 0}
    page = evim.evim("shell", "--verbosity=0", "-c", PAGE).stdout
    assert 'data-state="off"' in page and 'data-state="nothing-recorded"' in page
