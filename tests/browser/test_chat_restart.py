"""Prosody dies in the middle of a conversation (issue 5, item 7), in Chromium against a
real evim, its gateway and its managed Prosody: the chat reconnects by itself once evim's
supervisor has restarted the server, and shows everything that was said — nothing lost,
nothing twice.  Same people and helpers as tests/browser/test_chat.py; one evim for the
module, synced (``evim sync``) so that the structure's room is persistent, members-only and
archived, as in production: it comes back with the server, and so does its history."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.test_backoffice_pages import log_in
from tests.browser.test_chat import (
    CHAT,
    ROOM,
    Visitor,
    go_sendxmpp,
    jabber_password,
    message,
    say,
)
from tests.browser.test_chat_live import HeldLogins, open_chat, ready
from tests.fixtures.live_evim import LiveEvim, running_evim

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def chat_evim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveEvim]:
    """camille, jeanne and oliver with accounts, and the structure's spaces on the server."""
    with running_evim(tmp_path_factory.mktemp("chat-restart")) as instance:
        instance.evim("accounts", "provision", "camille", "jeanne", "oliver")
        instance.evim("sync")
        yield instance


@pytest.fixture
def visit(browser: Browser, chat_evim: LiveEvim) -> Iterator[Callable[[str], Visitor]]:
    contexts = []

    def open_as(username: str) -> Visitor:
        context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
        contexts.append(context)
        visitor = Visitor(context.new_page())
        visitor.page.on("websocket", visitor.follow)
        visitor.page.on("console", lambda entry: visitor.console.append(entry.text))
        log_in(visitor.page, chat_evim, username)
        return visitor

    yield open_as
    for context in contexts:
        context.close()


def kill_prosody(evim: LiveEvim) -> None:
    """SIGKILL the managed Prosody; return once evim's supervisor has started another one
    and it accepts client connections again (bounded)."""
    pid_file = evim.data_dir / "prosody" / "prosody.pid"
    old_pid = int(pid_file.read_text())
    os.kill(old_pid, signal.SIGKILL)
    deadline = time.monotonic() + CHAT / 1000
    while time.monotonic() < deadline:
        try:
            restarted = int(pid_file.read_text()) != old_pid
        except (OSError, ValueError):
            restarted = False  # between two Prosodys: no file, or not written yet
        if restarted:
            try:
                socket.create_connection(("127.0.0.1", evim.c2s_port), timeout=1).close()
                return
            except OSError:
                pass
        time.sleep(0.05)
    pytest.fail("Prosody was not restarted")


def oliver_sends(evim: LiveEvim, home: Path, *arguments: str, body: str) -> None:
    """oliver, from another XMPP client (go-sendxmpp), sends ``body``."""
    password = jabber_password(evim, "oliver")
    go_sendxmpp(evim, home, *arguments, body=body, user="oliver", password=password)


def test_prosody_restarted_mid_conversation_nothing_lost_nothing_twice(
    visit: Callable[[str], Visitor], chat_evim: LiveEvim, tmp_path: Path
) -> None:
    camille, jeanne = visit("camille"), visit("jeanne")
    for person in (camille, jeanne):
        ready(person)
    open_chat(camille, chat_evim.url, "jeanne@localhost")
    open_chat(jeanne, chat_evim.url, "camille@localhost")
    to_jeanne = camille.chat_with("jeanne@localhost")
    to_camille = jeanne.chat_with("camille@localhost")
    say(to_jeanne, "Avant la coupure : le plan de feu ?")
    expect(message(to_camille, "le plan de feu ?")).to_be_visible(timeout=CHAT)
    say(jeanne.room(), "Avant la coupure : générale à 18 h.")
    expect(message(camille.room(), "générale à 18 h")).to_be_visible(timeout=CHAT)

    # jeanne's chat cannot log in again until released: what comes meanwhile, she misses.
    held = HeldLogins(jeanne.page)
    kill_prosody(chat_evim)
    held.wait_for_one(camille.page)  # her chat lost its stream and asks for a new token

    # The server is back: oliver (another client) writes to jeanne and to the room...
    oliver_sends(chat_evim, tmp_path, "jeanne@localhost", body="Pendant la coupure, Oliver.")
    oliver_sends(chat_evim, tmp_path, "-c", "-a", "Oliver", ROOM, body="Salon : la régie revient.")
    # ...camille's chat came back by itself (it shows the room's new message), and she writes.
    expect(message(camille.room(), "la régie revient")).to_have_count(1, timeout=CHAT)
    say(to_jeanne, "Après la coupure : tu as reçu ?")
    expect(message(to_jeanne, "tu as reçu ?")).to_have_count(1)
    say(camille.room(), "Salon : tout le monde est là ?")
    expect(message(camille.room(), "tout le monde est là ?")).to_have_count(1, timeout=CHAT)

    # jeanne's chat logs in again: everything is there, once.
    held.release()
    from_oliver = jeanne.chat_with("oliver@localhost")
    expect(message(from_oliver, "Pendant la coupure, Oliver.")).to_have_count(1, timeout=CHAT)
    expect(message(to_camille, "tu as reçu ?")).to_have_count(1, timeout=CHAT)
    for text in ("la régie revient", "tout le monde est là ?"):
        expect(message(jeanne.room(), text)).to_have_count(1, timeout=CHAT)
    # The conversation goes on, both ways.
    say(to_camille, "Oui, tout reçu.")
    expect(message(to_jeanne, "Oui, tout reçu.")).to_have_count(1, timeout=CHAT)
    say(jeanne.room(), "Salon : présente.")
    expect(message(camille.room(), "Salon : présente.")).to_have_count(1, timeout=CHAT)

    # Nothing twice, in either browser, and still once on the next page.
    jeanne.page.goto(f"{chat_evim.url}/profile/")
    expect(message(to_camille, "Oui, tout reçu.")).to_have_count(1, timeout=CHAT)
    chats = [
        (camille, "jeanne@localhost", ["le plan de feu ?", "tu as reçu ?", "Oui, tout reçu."]),
        (jeanne, "camille@localhost", ["le plan de feu ?", "tu as reçu ?", "Oui, tout reçu."]),
        (jeanne, "oliver@localhost", ["Pendant la coupure, Oliver."]),
    ]
    for person, jid, texts in chats:
        for text in texts:
            expect(message(person.chat_with(jid), text)).to_have_count(1)
    for person in (camille, jeanne):
        for text in (
            "générale à 18 h",
            "la régie revient",
            "tout le monde est là ?",
            "Salon : présente.",
        ):
            expect(message(person.room(), text)).to_have_count(1)
