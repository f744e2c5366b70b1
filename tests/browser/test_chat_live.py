"""The chat over time, in Chromium against a real evim and its managed Prosody: the unread
count in the top bar, desktop notifications (opt-in), history from the server's archive, a
message sent during a page navigation, logging out in another tab.  Same people and
helpers as tests/browser/test_chat.py; one evim for the module."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Request, Route, WebSocketRoute, expect

from tests.browser.test_backoffice_pages import log_in
from tests.browser.test_chat import (
    CHAT,
    GO_SENDXMPP,
    ROOM,
    SEED_INES,
    Visitor,
    message,
    say,
)
from tests.fixtures.live_evim import LiveEvim, running_evim

pytestmark = pytest.mark.browser

# Playwright's window.Notification, recorded: the page's notifications and permission asks.
RECORD_NOTIFICATIONS = """
window.evimNotifications = [];
const asks = () => Number(sessionStorage.getItem("evimPermissionAsks") || 0);
class RecordedNotification {
  constructor(title, options) {
    window.evimNotifications.push({ title, body: (options && options.body) || "" });
  }
  close() {}
  // What the person answered stays for the next pages (the browser remembers it per site).
  static get permission() { return sessionStorage.getItem("evimPermission") || "default"; }
  static requestPermission() {
    sessionStorage.setItem("evimPermissionAsks", String(asks() + 1));
    sessionStorage.setItem("evimPermission", "granted");
    return Promise.resolve("granted");
  }
}
window.Notification = RecordedNotification;
// The tab is in the background, as when a notification matters.
Object.defineProperty(document, "hidden", { get: () => true });
"""


@pytest.fixture(scope="module")
def chat_evim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveEvim]:
    """camille, jeanne, oliver and ines with accounts; regie, an outside XMPP user."""
    with running_evim(tmp_path_factory.mktemp("chat-live")) as instance:
        instance.evim("shell", "-c", SEED_INES.format(password=instance.password))
        instance.evim("accounts", "provision", "camille", "jeanne", "oliver", "ines")
        prosody = instance.data_dir / "prosody" / "prosody.cfg.lua"
        subprocess.run(
            ["prosodyctl", "--config", str(prosody), "register", "regie", "localhost", "pw-r"],
            check=True,
            capture_output=True,
        )
        # The structure's room, persistent as evim's provisioning will make it (issue 6): a
        # room a client created would vanish, with its archive, when Prosody restarts.
        subprocess.run(
            ["prosodyctl", "--config", str(prosody), "shell"],
            input=f"muc:create('{ROOM}', {{persistent=true}})\n",
            text=True,
            check=True,
            capture_output=True,
        )
        yield instance


@pytest.fixture
def visit(browser: Browser, chat_evim: LiveEvim) -> Iterator[Callable[..., Visitor]]:
    """``visit("jeanne")``: a new browser profile logged in as jeanne; ``notifications=True``
    records the page's desktop notifications (RECORD_NOTIFICATIONS)."""
    contexts = []

    def open_as(username: str, *, notifications: bool = False, **options: Any) -> Visitor:
        context = browser.new_context(
            locale="fr-FR", viewport=options.pop("viewport", {"width": 1280, "height": 900})
        )
        if notifications:
            context.add_init_script(RECORD_NOTIFICATIONS)
        contexts.append(context)
        visitor = Visitor(context.new_page())
        visitor.page.on("websocket", visitor.follow)
        visitor.page.on("console", lambda entry: visitor.console.append(entry.text))
        if prepare := options.pop("prepare", None):
            prepare(visitor.page)  # before the first page: routes for its chat
        log_in(visitor.page, chat_evim, username)
        return visitor

    yield open_as
    for context in contexts:
        context.close()


def ready(visitor: Visitor) -> None:
    expect(visitor.room().locator("textarea.chat-textarea")).to_be_visible(timeout=CHAT)


def open_chat(visitor: Visitor, url: str, jid: str) -> None:
    visitor.page.goto(f"{url}/#converse/chat?jid={jid}")
    expect(visitor.chat_with(jid).locator("textarea.chat-textarea")).to_be_visible(timeout=CHAT)


def minimise(box: Any) -> None:
    box.locator(".toggle-chatbox-button").click()
    expect(box.locator("textarea.chat-textarea")).to_be_hidden()


def go_sendxmpp(evim: LiveEvim, home: Path, *arguments: str, body: str) -> int:
    """regie sends ``body`` with go-sendxmpp; returns its exit code."""
    sent = subprocess.run(
        [
            *(GO_SENDXMPP, "-u", "regie@localhost", "-p", "pw-r", "-n"),
            *("-j", f"127.0.0.1:{evim.c2s_port}", *arguments),
        ],
        input=body.encode(),
        capture_output=True,
        env={**os.environ, "HOME": str(home)},
        timeout=60,
    )
    return sent.returncode


# The chat's credentials URL, whatever its query (?client=bar, ?client=page).
CREDENTIALS = re.compile(r"/im/credentials(\?|$)")


class HeldLogins:
    """Holds a page's requests to /im/credentials (so its chat cannot log in) until released."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.routes: list[Route] = []
        page.route(CREDENTIALS, lambda route: self.routes.append(route))

    def wait_for_one(self, other: Page) -> None:
        """Until a login is held (Playwright hands routes over only inside its own calls)."""
        for _ in range(10_000):
            if self.routes:
                return
            other.evaluate("0")
        pytest.fail("the chat never asked for its credentials")

    def release(self) -> None:
        for route in self.routes:
            route.continue_()
        self.page.unroute(CREDENTIALS)


class ArchiveFirst:
    """Routes a page's chat WebSocket so that what the archive (MAM) answers reaches the page
    before the live messages that came meanwhile: the first page's archive queries are held
    until ``answer_before``, and the live messages that arrive while they are held or being
    answered follow the answers.  Each stanza is a frame of its own (RFC 7395)."""

    def __init__(self, page: Page) -> None:
        self.queries: list[str] = []
        self.answers_due = 0
        self.late: list[str] = []
        self.holding = True
        self.release_queries: Callable[[], None] = lambda: None
        page.route_web_socket(re.compile(r"^wss?://"), self.route)

    def route(self, page_side: WebSocketRoute) -> None:
        server = page_side.connect_to_server()

        def from_page(frame: str | bytes) -> None:
            if self.holding and "urn:xmpp:mam:2" in str(frame) and "<query" in str(frame):
                self.queries.append(str(frame))
            else:
                server.send(frame)

        def from_server(frame: str | bytes) -> None:
            text = str(frame)
            if (self.queries or self.answers_due) and "<body" in text and "<result" not in text:
                self.late.append(text)
                return
            page_side.send(frame)
            if "<fin" in text and self.answers_due:
                self.answers_due -= 1
                if not self.answers_due:
                    for late in self.late:
                        page_side.send(late)
                    self.late.clear()

        def release() -> None:
            self.holding = False  # and the next pages' sockets go straight through
            self.answers_due, queries = len(self.queries), self.queries
            self.queries = []
            for query in queries:
                server.send(query)

        page_side.on_message(from_page)
        server.on_message(from_server)
        self.release_queries = release

    def wait_until(self, condition: Callable[[], bool], other: Page) -> None:
        """Playwright runs the route's handlers only inside its own calls: ``other`` makes them."""
        for _ in range(10_000):
            if condition():
                return
            other.evaluate("0")
        pytest.fail("the chat's WebSocket never got there")

    def wait_for_query(self, other: Page) -> None:
        self.wait_until(lambda: bool(self.queries), other)

    def answer_before(self, text: str, other: Page) -> None:
        """Once ``text`` came live (and is held), the archive answers, then ``text`` follows."""
        self.wait_until(lambda: any(text in late for late in self.late), other)
        self.release_queries()
        self.wait_until(lambda: not self.late, other)


def test_the_unread_count_in_the_top_bar(
    visit: Callable[..., Visitor], chat_evim: LiveEvim
) -> None:
    oliver, jeanne = visit("oliver"), visit("jeanne")
    for person in (oliver, jeanne):
        ready(person)
    unread = oliver.page.locator("[data-chat=unread]")
    expect(unread).to_be_hidden()
    # oliver keeps his chat with jeanne and the room minimised.
    open_chat(oliver, chat_evim.url, "jeanne@localhost")
    minimise(oliver.chat_with("jeanne@localhost"))
    minimise(oliver.room())
    open_chat(jeanne, chat_evim.url, "oliver@localhost")

    say(jeanne.chat_with("oliver@localhost"), "Oliver, the van is here.")
    say(jeanne.chat_with("oliver@localhost"), "Can you open the stage door?")
    expect(unread).to_be_visible(timeout=CHAT)
    expect(unread.locator("[data-chat=unread-count]")).to_have_text("2")
    expect(unread).to_have_attribute("title", "2 unread messages")
    # In the room, news for everyone does not count; a mention of oliver does.
    say(jeanne.room(), "Le café est prêt.")
    expect(message(jeanne.room(), "Le café est prêt.")).to_be_visible()
    say(jeanne.room(), "Oliver Bennett, la loge 3 est pour toi.")
    expect(unread.locator("[data-chat=unread-count]")).to_have_text("3", timeout=CHAT)

    # The next page shows it at once, and still after the chat is back. After a page load
    # the chat asks the archive what it missed: a message that comes meanwhile reaches the
    # page from the archive first, then live; it counts, once.
    archive_first = ArchiveFirst(oliver.page)
    oliver.page.goto(f"{chat_evim.url}/profile/")
    expect(unread.locator("[data-chat=unread-count]")).to_have_text("3")
    archive_first.wait_for_query(jeanne.page)
    say(jeanne.chat_with("oliver@localhost"), "Thanks!")
    archive_first.answer_before("Thanks!", jeanne.page)
    expect(unread.locator("[data-chat=unread-count]")).to_have_text("4", timeout=CHAT)
    expect(unread).to_have_attribute("href", "/im/")

    # Reading: opening the chat counts its messages read, then the room's mention.
    open_chat(oliver, chat_evim.url, "jeanne@localhost")
    expect(message(oliver.chat_with("jeanne@localhost"), "Thanks!")).to_be_visible()
    expect(unread.locator("[data-chat=unread-count]")).to_have_text("1", timeout=CHAT)
    expect(unread).to_have_attribute("title", "1 unread message")
    oliver.page.locator("converse-minimized-chats").get_by_text("lilas").click()
    expect(unread).to_be_hidden(timeout=CHAT)
    oliver.page.goto(f"{chat_evim.url}/")
    ready(oliver)
    expect(unread).to_be_hidden()


def test_desktop_notifications_only_for_those_who_turned_them_on(
    visit: Callable[..., Visitor], chat_evim: LiveEvim
) -> None:
    camille = visit("camille", notifications=True)
    jeanne = visit("jeanne")
    ready(camille)
    ready(jeanne)
    # Off by default: Converse does not even ask for the permission.
    assert camille.page.evaluate("sessionStorage.getItem('evimPermissionAsks') || '0'") == "0"
    open_chat(jeanne, chat_evim.url, "camille@localhost")
    say(jeanne.chat_with("camille@localhost"), "Camille, premier message.")
    expect(message(camille.chat_with("jeanne@localhost"), "premier message")).to_be_visible(
        timeout=CHAT
    )

    # camille turns them on in her profile: the browser asks her then, on her click.
    camille.page.goto(f"{chat_evim.url}/profile/")
    choice = camille.page.get_by_label("Notifications sur le bureau pour les messages directs")
    choice.check()
    assert camille.page.evaluate("sessionStorage.getItem('evimPermissionAsks') || '0'") == "1"
    camille.page.locator("[data-action=save-chat-preferences]").click()
    expect(camille.page.locator(".flash")).to_contain_text("notifications sur le bureau")
    ready(camille)

    say(jeanne.chat_with("camille@localhost"), "Camille, second message.")
    say(jeanne.room(), "Le rideau à 20 h.")  # for everyone: no notification
    say(jeanne.room(), "Camille Martin, les billets sont à l’accueil.")  # a mention
    expect(message(camille.room(), "les billets sont à l’accueil")).to_be_visible(timeout=CHAT)
    expect(message(camille.chat_with("jeanne@localhost"), "second message")).to_be_visible()
    bodies = [entry["body"] for entry in camille.page.evaluate("window.evimNotifications")]
    assert bodies == ["Camille, second message.", "Camille Martin, les billets sont à l’accueil."]
    assert (
        camille.page.evaluate("sessionStorage.getItem('evimPermissionAsks') || '0'") == "1"
    )  # never unasked


def test_history_from_the_archive(
    visit: Callable[..., Visitor], chat_evim: LiveEvim, tmp_path: Path
) -> None:
    """ines has never been connected: what was sent meanwhile is there when she comes."""
    assert go_sendxmpp(chat_evim, tmp_path, "ines@localhost", body="Bienvenue Inès.") == 0
    assert go_sendxmpp(chat_evim, tmp_path, "-c", "-a", "Régie", ROOM, body="Montage à 9 h.") == 0
    jeanne = visit("jeanne")
    ready(jeanne)
    open_chat(jeanne, chat_evim.url, "ines@localhost")
    say(jeanne.chat_with("ines@localhost"), "Inès, ton badge est prêt.")
    expect(message(jeanne.chat_with("ines@localhost"), "ton badge")).to_be_visible()

    ines = visit("ines")
    ready(ines)
    expect(message(ines.room(), "Montage à 9 h.")).to_have_count(1, timeout=CHAT)
    for sender, text in (("regie@localhost", "Bienvenue Inès."), ("jeanne@localhost", "badge")):
        open_chat(ines, chat_evim.url, sender)
        expect(message(ines.chat_with(sender), text)).to_have_count(1, timeout=CHAT)

    # In a new browser (nothing kept in it), the chats' history comes from the archive alone.
    elsewhere = visit("ines")
    ready(elsewhere)
    expect(message(elsewhere.room(), "Montage à 9 h.")).to_have_count(1, timeout=CHAT)
    open_chat(elsewhere, chat_evim.url, "jeanne@localhost")
    expect(message(elsewhere.chat_with("jeanne@localhost"), "badge")).to_have_count(1, timeout=CHAT)


class RoomArchiveHeld:
    """Routes a page's chat WebSocket so that the room's archive queries of its first page
    never reach the server (as when the page is left before the answer came); the next
    pages' sockets go straight through."""

    def __init__(self) -> None:
        self.held: list[str] = []
        self.holding = True

    def install(self, page: Page) -> None:
        page.route_web_socket(re.compile(r"^wss?://"), self.route)

    def route(self, page_side: WebSocketRoute) -> None:
        server = page_side.connect_to_server()
        holding = self.holding

        def from_page(frame: str | bytes) -> None:
            text = str(frame)
            if holding and "urn:xmpp:mam:2" in text and f'to="{ROOM}"' in text.replace("'", '"'):
                self.held.append(text)
            else:
                server.send(frame)

        page_side.on_message(from_page)
        server.on_message(page_side.send)


def test_a_room_left_before_its_history_came_gets_it_on_the_next_page(
    visit: Callable[..., Visitor], chat_evim: LiveEvim, tmp_path: Path
) -> None:
    """The first page's archive answer for the room never came (the user moved on): the
    next page, whose session resumes, asks the room's archive again."""
    text = "Générale décalée à 19 h."
    assert go_sendxmpp(chat_evim, tmp_path, "-c", "-a", "Régie", ROOM, body=text) == 0
    archive = RoomArchiveHeld()
    jeanne = visit("jeanne", prepare=archive.install)
    ready(jeanne)
    for _ in range(10_000):  # Playwright runs the route's handlers inside its own calls
        if archive.held:
            break
        jeanne.page.evaluate("0")
    assert archive.held, "the room's archive was never asked"
    expect(message(jeanne.room(), text)).to_have_count(0)

    archive.holding = False
    jeanne.page.goto(f"{chat_evim.url}/profile/")
    ready(jeanne)
    expect(message(jeanne.room(), text)).to_have_count(1, timeout=CHAT)


def test_a_message_sent_during_a_page_navigation_arrives_once(
    visit: Callable[..., Visitor], chat_evim: LiveEvim
) -> None:
    oliver, jeanne = visit("oliver"), visit("jeanne")
    ready(oliver)
    ready(jeanne)
    open_chat(oliver, chat_evim.url, "jeanne@localhost")
    open_chat(jeanne, chat_evim.url, "oliver@localhost")
    maximised = oliver.page.locator("converse-minimized-chats").get_by_text("lilas")
    if maximised.count():
        maximised.click()
    ready(oliver)

    held = HeldLogins(oliver.page)
    oliver.page.goto(f"{chat_evim.url}/profile/")
    held.wait_for_one(jeanne.page)  # the new page is not connected yet
    say(jeanne.chat_with("oliver@localhost"), "Sent while you changed page.")
    say(jeanne.room(), "Dans le salon pendant ta navigation.")
    expect(message(jeanne.room(), "pendant ta navigation")).to_be_visible()
    held.release()

    chat = oliver.chat_with("jeanne@localhost")
    expect(message(chat, "Sent while you changed page.")).to_have_count(1, timeout=CHAT)
    expect(message(oliver.room(), "pendant ta navigation")).to_have_count(1, timeout=CHAT)
    # Once, and still once after what followed and another page.
    say(jeanne.chat_with("oliver@localhost"), "Next one.")
    expect(message(chat, "Next one.")).to_be_visible(timeout=CHAT)
    oliver.page.goto(f"{chat_evim.url}/")
    expect(message(chat, "Next one.")).to_have_count(1, timeout=CHAT)
    expect(message(chat, "Sent while you changed page.")).to_have_count(1)
    expect(message(oliver.room(), "pendant ta navigation")).to_have_count(1)


def test_a_page_asks_for_its_login_while_it_loads_and_only_once(
    visit: Callable[..., Visitor], chat_evim: LiveEvim
) -> None:
    """The page preloads its chat's login token, so Converse finds it ready instead of asking
    once started: one request per page, made by the page itself, not by a script."""
    camille = visit("camille")
    ready(camille)
    asked: list[Request] = []
    camille.page.on(
        "request",
        lambda request: asked.append(request) if CREDENTIALS.search(request.url) else None,
    )
    for path in ("/profile/", "/"):
        asked.clear()
        camille.page.goto(f"{chat_evim.url}{path}")
        ready(camille)
        kinds = [(request.url, request.resource_type) for request in asked]
        # Chromium calls a preload's type "other"; Converse's own request is an "xhr".
        assert len(kinds) == 1 and kinds[0][1] != "xhr", kinds


def test_logging_out_in_another_tab_takes_the_chat_away(
    visit: Callable[..., Visitor], chat_evim: LiveEvim
) -> None:
    camille = visit("camille")
    ready(camille)
    other_tab = camille.page.context.new_page()
    other_tab.goto(f"{chat_evim.url}/profile/")
    other_tab.get_by_role("button", name="Se déconnecter").click()
    expect(other_tab).to_have_url(f"{chat_evim.url}/login/")
    notice = camille.page.locator("[data-chat=logged-out]")
    expect(notice).to_have_text(
        "Vous êtes déconnecté : reconnectez-vous pour utiliser le chat.", timeout=CHAT
    )
    expect(camille.room()).to_be_hidden()
    # Logging in again in the other tab brings the chat back in the first.
    log_in(other_tab, chat_evim, "camille")
    expect(notice).to_have_count(0, timeout=CHAT)
    ready(camille)


def test_on_a_phone_the_room_waits_minimised(
    visit: Callable[..., Visitor], chat_evim: LiveEvim
) -> None:
    ines = visit("ines", viewport={"width": 390, "height": 844})
    jeanne = visit("jeanne")
    ready(jeanne)
    # The first page after logging in is the back office, not the room over all of it.
    minimised = ines.page.locator("converse-minimized-chats").get_by_text("lilas")
    expect(minimised).to_be_visible(timeout=CHAT)
    expect(ines.room().locator("textarea.chat-textarea")).to_be_hidden()
    expect(ines.page.get_by_role("heading", level=1)).to_be_visible()
    # Joined all the same: what is said meanwhile is there when she opens it.
    say(jeanne.room(), "Ines, le plan de feu est prêt.")
    minimised.click()
    expect(message(ines.room(), "le plan de feu est prêt")).to_be_visible(timeout=CHAT)
    # The next page keeps the room as she left it: open, then minimised.
    ines.page.goto(f"{chat_evim.url}/profile/")
    expect(ines.room().locator("textarea.chat-textarea")).to_be_visible(timeout=CHAT)
    minimise(ines.room())
    ines.page.goto(f"{chat_evim.url}/")
    expect(minimised).to_be_visible(timeout=CHAT)
    expect(ines.room().locator("textarea.chat-textarea")).to_be_hidden()


def test_the_service_settings_show_in_the_chat_and_on_the_login_page(
    visit: Callable[..., Visitor], browser: Browser, chat_evim: LiveEvim
) -> None:
    camille, jeanne = visit("camille"), visit("jeanne")
    ready(camille)
    # The chat's session has the service's resource: prefix, client, unique part.
    bound = [
        re.search(r"<jid>(camille@localhost/[^<]+)</jid>", frame) for _, frame in camille.frames
    ]
    jids = [found.group(1) for found in bound if found]
    assert jids and jids[0].startswith("camille@localhost/evim-bar-")
    # camille, an administrator, names the service and posts an announcement.
    camille.page.goto(f"{chat_evim.url}/service/settings/")
    camille.page.get_by_label("Nom du service").fill("Messagerie des Lilas")
    camille.page.get_by_label("Annonce").fill("Coupure du serveur à 14 h.")
    camille.page.get_by_label("Conditions d’utilisation").fill("https://lilas.example/cgu")
    camille.page.locator("[data-action=save-service-settings]").click()
    expect(camille.page.locator(".flash")).to_contain_text("Enregistré")
    try:
        # Every chat shows them on its next page; only the administrator gets the link here.
        for person in (camille, jeanne):
            person.page.goto(f"{chat_evim.url}/")
            ready(person)
            # The chat bar's button bears the service's name; it opens the bar.
            person.page.locator(".toggle-controlbox").get_by_text("Messagerie des Lilas").click()
            header = person.page.locator("[data-service=header]")
            expect(header.locator("[data-service=name]")).to_have_text(
                "Messagerie des Lilas", timeout=CHAT
            )
            expect(header.locator("[data-service=announcement]")).to_have_text(
                "Coupure du serveur à 14 h."
            )
            expect(header.locator("[data-service=terms]")).to_have_attribute(
                "href", "https://lilas.example/cgu"
            )
        expect(jeanne.page.locator("[data-service=manager]")).to_have_count(0)
        camille.page.locator("[data-service=manager]").click()
        expect(camille.page).to_have_url(f"{chat_evim.url}/service/settings/")

        # The login page presents the service too.
        visitor = browser.new_page()
        visitor.goto(f"{chat_evim.url}/login/")
        expect(visitor.locator("[data-service=block]")).to_contain_text("Messagerie des Lilas")
        visitor.close()
    finally:
        camille.page.goto(f"{chat_evim.url}/service/settings/")
        camille.page.get_by_label("Nom du service").fill("Messagerie instantanée")
        camille.page.get_by_label("Annonce").fill("")
        camille.page.get_by_label("Conditions d’utilisation").fill("")
        camille.page.locator("[data-action=save-service-settings]").click()
        expect(camille.page.locator(".flash")).to_contain_text("Enregistré")


def set_switch(admin: Visitor, url: str, label: str, *, on: bool) -> None:
    """An administrator turns an option of the service settings page on or off."""
    admin.page.goto(f"{url}/service/settings/")
    admin.page.get_by_label(label).set_checked(on)
    admin.page.locator("[data-action=save-service-settings]").click()
    expect(admin.page.locator(".flash")).to_be_visible()


def test_suggested_rooms_are_offered_then_remembered(
    visit: Callable[..., Visitor], chat_evim: LiveEvim
) -> None:
    camille = visit("camille")
    set_switch(camille, chat_evim.url, "Proposer les salons", on=True)
    try:
        # oliver, in a new browser: the room is offered, not joined.
        oliver = visit("oliver")
        offers = oliver.page.locator("[data-chat=room-offers]")
        offer = offers.locator(f"[data-room='{ROOM}']")
        expect(offer).to_be_visible(timeout=CHAT)
        expect(oliver.room()).to_have_count(0)
        offer.get_by_role("button", name="Join").click()
        ready(oliver)
        expect(offers).to_have_count(0)
        # The next page: no question again, the room is there.
        oliver.page.goto(f"{chat_evim.url}/profile/")
        ready(oliver)
        expect(offers).to_have_count(0)

        # ines skips it: no room, and no question on her next page either.
        ines = visit("ines")
        offer = ines.page.locator(f"[data-chat=room-offers] [data-room='{ROOM}']")
        offer.get_by_role("button", name="Ignorer").click()
        expect(ines.page.locator("[data-chat=room-offers]")).to_have_count(0)
        ines.page.goto(f"{chat_evim.url}/profile/")
        expect(ines.page.locator("converse-root")).to_be_attached(timeout=CHAT)
        expect(ines.page.locator(".toggle-controlbox, converse-controlbox")).not_to_have_count(
            0, timeout=CHAT
        )
        expect(ines.page.locator("[data-chat=room-offers]")).to_have_count(0)
        expect(ines.room()).to_have_count(0)
    finally:
        set_switch(camille, chat_evim.url, "Proposer les salons", on=False)
