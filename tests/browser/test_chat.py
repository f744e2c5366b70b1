"""The chat in the back office, in Chromium: a real evim (``evim run``) with its managed
Prosody, Converse.js logging in by itself through evim's gateway, go-sendxmpp outside.

camille (administrator), jeanne (French) and oliver (English) have Jabber accounts; ines has
none.  Each test opens its own browser profiles ("contexts"), as separate people would.
Read each test as a script: who logs in, what they do, what they see."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Error, Locator, Page, Response, WebSocket, expect

from tests.browser.test_backoffice_pages import log_in, shoot
from tests.fixtures.live_evim import LiveEvim, running_evim

pytestmark = pytest.mark.browser

GO_SENDXMPP = "/usr/bin/go-sendxmpp"
ROOM = "lilas@conference.localhost"
# Logging in through the gateway and joining the room takes a second or two; a loaded
# machine (two cores, benchmarks beside) may need more.
CHAT = 30_000
SEED_INES = (
    "from evim.backoffice import actions\n"
    "actions.do_create_user(acting_user=None, username='ines', password={password!r},\n"
    "    first_name='Inès', last_name='Moreau', language='fr')\n"
)
# With messaging disabled, camille still has an account: it is the switch that takes the
# chat away, not the account.
SEED_CAMILLE_ACCOUNT = (
    "from evim.backoffice.models import User\n"
    "from evim.messaging import actions\n"
    "actions.do_create_account(acting_user=None, user=User.objects.get(username='camille'),\n"
    "    jid='camille@localhost', password='not-used-here')\n"
)
READ_PASSWORD = (
    "from evim.messaging.models import JabberAccount\n"
    "from evim.messaging.encryption import decrypt_password\n"
    "account = JabberAccount.objects.get(user__username={username!r})\n"
    "print(decrypt_password(account.password_encrypted))\n"
)
READ_PASSWORDS = (
    "from evim.messaging.models import JabberAccount\n"
    "from evim.messaging.encryption import decrypt_password\n"
    "for account in JabberAccount.objects.all():\n"
    "    print(decrypt_password(account.password_encrypted))\n"
)


@pytest.fixture(scope="module")
def chat_evim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveEvim]:
    """One evim for the module: accounts for camille, jeanne and oliver, none for ines."""
    with running_evim(tmp_path_factory.mktemp("chat")) as instance:
        instance.evim("shell", "-c", SEED_INES.format(password=instance.password))
        instance.evim("accounts", "provision", "camille", "jeanne", "oliver")
        instance.evim("sync")  # the structure's room: persistent, members-only, archived
        yield instance


@dataclass
class Visitor:
    """One person's browser profile: the page, and everything it fetched."""

    page: Page
    requests: list[str] = field(default_factory=list)
    websockets: list[str] = field(default_factory=list)
    # (url, body) of every response; (socket, frame) of every frame the WebSockets received.
    bodies: list[tuple[str, bytes]] = field(default_factory=list)
    frames: list[tuple[WebSocket, str]] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    def record(self, response: Response) -> None:
        if 300 <= response.status < 400:
            return  # a redirection has no body to read
        try:
            self.bodies.append((response.url, response.body()))
        except Error:
            self.bodies.append((response.url, b""))  # the page went on; nothing to read

    def follow(self, socket: WebSocket) -> None:
        self.websockets.append(socket.url)
        socket.on("framereceived", lambda frame: self.frames.append((socket, str(frame))))

    def room(self) -> Locator:
        return self.page.locator(f"converse-muc[jid='{ROOM}']")

    def chat_with(self, jid: str) -> Locator:
        return self.page.locator(f"converse-chat[jid='{jid}']")


def wait_for_frame(visitor: Visitor, socket: WebSocket, text: str) -> None:
    """Until ``socket`` has received a frame containing ``text`` (Playwright delivers events
    only inside its own calls: nothing arrives between the check and the wait)."""
    if not any(text in frame for seen, frame in visitor.frames if seen is socket):
        socket.wait_for_event(
            "framereceived", predicate=lambda frame: text in str(frame), timeout=CHAT
        )


def jabber_password(evim: LiveEvim, username: str) -> str:
    """The Jabber password evim keeps for ``username`` (for another client of theirs)."""
    script = READ_PASSWORD.format(username=username)
    return evim.evim("shell", "--verbosity=0", "-c", script).stdout.strip()


def go_sendxmpp(
    evim: LiveEvim, home: Path, *arguments: str, body: str, user: str, password: str
) -> None:
    """``user``, from another XMPP client (go-sendxmpp), sends ``body``."""
    sent = subprocess.run(
        [
            *(GO_SENDXMPP, "-u", f"{user}@localhost", "-p", password, "-n"),
            *("-j", f"127.0.0.1:{evim.c2s_port}", *arguments),
        ],
        input=body.encode(),
        capture_output=True,
        env={**os.environ, "HOME": str(home)},  # no personal sendxmpprc
        timeout=60,
    )
    assert sent.returncode == 0, sent.stdout.decode() + sent.stderr.decode()


def say(box: Locator, text: str) -> None:
    """Type a message in a chat or room box and send it with Enter."""
    textarea = box.locator("textarea.chat-textarea")
    textarea.fill(text)
    textarea.press("Enter")


def message(box: Locator, text: str) -> Locator:
    return box.locator(".chat-msg__text", has_text=text)


@pytest.fixture
def visit(browser: Browser, chat_evim: LiveEvim) -> Iterator[Callable[[str], Visitor]]:
    """``visit("jeanne")``: a new browser profile, logged in to the back office as jeanne."""
    contexts = []

    def open_as(username: str) -> Visitor:
        context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
        contexts.append(context)
        visitor = Visitor(context.new_page())
        page = visitor.page
        page.on("request", lambda request: visitor.requests.append(request.url))
        page.on("response", visitor.record)
        page.on("console", lambda entry: visitor.console.append(entry.text))
        page.on("websocket", visitor.follow)
        log_in(page, chat_evim, username)
        return visitor

    yield open_as
    for context in contexts:
        context.close()


def test_colleagues_chat_one_to_one_and_in_their_room(
    visit: Callable[[str], Visitor], chat_evim: LiveEvim, tmp_path: Path
) -> None:
    camille, jeanne = visit("camille"), visit("jeanne")
    # The chat bar logs in by itself and joins the structure's room, under each one's name.
    for person in (camille, jeanne):
        expect(person.room().locator("textarea.chat-textarea")).to_be_visible(timeout=CHAT)
    expect(camille.room().locator(".occupant-nick", has_text="Jeanne Durand")).to_be_visible(
        timeout=CHAT
    )

    # One to one: camille opens a chat with jeanne (Converse's link to a chat) and writes.
    camille.page.goto(f"{chat_evim.url}/#converse/chat?jid=jeanne@localhost")
    say(camille.chat_with("jeanne@localhost"), "Bonjour Jeanne, la salle est prête ?")
    expect(message(jeanne.chat_with("camille@localhost"), "la salle est prête")).to_be_visible(
        timeout=CHAT
    )

    # In the room: jeanne answers everyone.
    say(jeanne.room(), "Oui, répétition générale à 18 h.")
    expect(message(camille.room(), "répétition générale à 18 h")).to_be_visible(timeout=CHAT)
    expect(camille.room().locator(".chat-msg__author", has_text="Jeanne Durand")).to_be_visible()
    shoot(camille.page, "chat-bar", tmp_path)


def test_colleagues_are_contacts_with_their_presence(
    visit: Callable[[str], Visitor], chat_evim: LiveEvim
) -> None:
    """After `evim sync`, the roster holds the colleagues under the structure's name, with
    their full names, and shows who is connected."""
    camille, jeanne = visit("camille"), visit("jeanne")
    expect(jeanne.room().locator("textarea.chat-textarea")).to_be_visible(timeout=CHAT)
    camille.page.goto(f"{chat_evim.url}/im/")  # the full page shows the contacts
    group = camille.page.locator(".roster-group[data-group='Théâtre des Lilas']")
    for colleague in ("Jeanne Durand", "Oliver Bennett"):
        expect(group.locator(".contact-name", has_text=colleague)).to_be_visible(timeout=CHAT)
    expect(group.locator(".contact-name--online", has_text="Jeanne Durand")).to_be_visible(
        timeout=CHAT
    )
    expect(group.locator(".contact-name", has_text="Camille Martin")).to_have_count(0)


def test_chats_stay_as_they_were_from_page_to_page(
    visit: Callable[[str], Visitor], chat_evim: LiveEvim
) -> None:
    oliver = visit("oliver")
    page = oliver.page
    expect(oliver.room().locator("textarea.chat-textarea")).to_be_visible(timeout=CHAT)
    page.goto(f"{chat_evim.url}/#converse/chat?jid=jeanne@localhost")
    say(oliver.chat_with("jeanne@localhost"), "Hello Jeanne, are the tickets printed?")
    expect(message(oliver.chat_with("jeanne@localhost"), "tickets printed")).to_be_visible()
    oliver.room().locator(".toggle-chatbox-button").click()  # minimise the room
    expect(oliver.room().locator("textarea.chat-textarea")).to_be_hidden()

    with page.expect_websocket() as opened:
        page.goto(f"{chat_evim.url}/profile/")
    # The new page's stream resumes the previous one (XEP-0198) through the gateway.
    wait_for_frame(oliver, opened.value, "<resumed")
    # The chat with jeanne is open again, with its message; the room stays minimised.
    expect(message(oliver.chat_with("jeanne@localhost"), "tickets printed")).to_be_visible(
        timeout=CHAT
    )
    expect(page.locator("converse-minimized-chats")).to_contain_text("Lilas")
    expect(oliver.room().locator("textarea.chat-textarea")).to_be_hidden()


def test_a_go_sendxmpp_user_writes_to_a_colleague_and_to_the_room(
    visit: Callable[[str], Visitor], chat_evim: LiveEvim, tmp_path: Path
) -> None:
    prosody = chat_evim.data_dir / "prosody" / "prosody.cfg.lua"
    subprocess.run(
        ["prosodyctl", "--config", str(prosody), "register", "regie", "localhost", "regie-pw"],
        check=True,
        capture_output=True,
    )
    jeanne = visit("jeanne")
    expect(jeanne.room().locator("textarea.chat-textarea")).to_be_visible(timeout=CHAT)

    go_sendxmpp(
        chat_evim,
        tmp_path,
        "jeanne@localhost",
        body="Le décor est monté.",
        user="regie",
        password="regie-pw",
    )
    expect(message(jeanne.chat_with("regie@localhost"), "Le décor est monté.")).to_be_visible(
        timeout=CHAT
    )
    # The structure's room is for its members: oliver writes there from go-sendxmpp.
    oliver = jabber_password(chat_evim, "oliver")
    go_sendxmpp(
        chat_evim,
        tmp_path,
        "-c",
        "-a",
        "Oliver",
        ROOM,
        body="Lumières prêtes.",
        user="oliver",
        password=oliver,
    )
    expect(message(jeanne.room(), "Lumières prêtes.")).to_be_visible(timeout=CHAT)


def test_the_full_page_chat_below_the_back_office_menu(
    visit: Callable[[str], Visitor], chat_evim: LiveEvim, tmp_path: Path
) -> None:
    camille = visit("camille")
    camille.page.goto(f"{chat_evim.url}/profile/")
    camille.page.locator("[data-action=open-chat]").click()
    expect(camille.page).to_have_url(f"{chat_evim.url}/im/")
    page = camille.page
    expect(page.locator("converse-root.converse-fullscreen")).to_be_visible(timeout=CHAT)
    expect(camille.room().locator("textarea.chat-textarea")).to_be_visible(timeout=CHAT)
    # The room's history comes from the server's archive.
    expect(message(camille.room(), "répétition générale à 18 h")).to_be_visible(timeout=CHAT)
    # The back office's top bar stays above the chat, and its menu opens over it.
    topbar = page.locator(".topbar")
    box = topbar.bounding_box()
    assert box is not None and box["y"] == 0 and box["height"] == 56
    chat = page.locator("converse-root").bounding_box()
    assert chat is not None and chat["y"] == 56
    shoot(page, "chat-page", tmp_path)
    page.get_by_text("Paramétrage").click()
    expect(page.locator("[data-menu=profile]")).to_be_visible()
    on_top = page.evaluate(
        "(() => { const link = document.querySelector('[data-menu=profile]');"
        " const r = link.getBoundingClientRect();"
        " return document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2) === link; })()"
    )
    assert on_top


def test_the_chat_and_the_back_office_keep_their_own_styles(
    visit: Callable[[str], Visitor],
) -> None:
    jeanne = visit("jeanne")
    page = jeanne.page
    expect(jeanne.room().locator("textarea.chat-textarea")).to_be_visible(timeout=CHAT)
    styles = page.evaluate(
        """() => {
        const css = (selector, property) =>
            getComputedStyle(document.querySelector(selector)).getPropertyValue(property);
        return {
            topbar: css('.topbar', 'background-color'),
            topbarHeight: css('.topbar', 'height'),
            title: css('h1', 'font-size'),
            card: css('.card', 'border-radius'),
            body: css('body', 'font-family'),
            mainWidth: css('main', 'max-width'),
            chatPosition: css('converse-root', 'position'),
            chatLineHeight: css('converse-root', 'line-height'),
            roomHead: css('converse-muc .chat-head', 'background-color'),
            overflow: document.documentElement.scrollWidth <= window.innerWidth,
        };
    }"""
    )
    # The back office looks as without the chat: Converse's styles stay inside it...
    assert styles["topbar"] == "rgb(38, 43, 56)"
    assert styles["topbarHeight"] == "56px"
    assert styles["title"] == "25.6px"
    assert styles["card"] == "10px"
    assert styles["body"].startswith("system-ui")
    assert styles["mainWidth"] == "1100px"
    assert styles["overflow"]  # nothing sticks out sideways
    # ...and the chat is Converse's: fixed over the page, its own colours and line height.
    assert styles["chatPosition"] == "fixed"
    assert styles["chatLineHeight"] == "normal"
    assert styles["roomHead"] != "rgba(0, 0, 0, 0)"
    # Converse's icons are sized (style attributes, allowed by the CSP), not 300 × 150 px.
    minimise = jeanne.room().locator(".toggle-chatbox-button svg")
    expect(minimise).to_be_visible()
    # (Measured in one step: Converse may draw the room's head again meanwhile.)
    assert minimise.evaluate("(icon) => icon.getBoundingClientRect().width") < 40


def test_nothing_is_requested_from_elsewhere(
    visit: Callable[[str], Visitor], chat_evim: LiveEvim
) -> None:
    camille = visit("camille")
    expect(camille.room().locator("textarea.chat-textarea")).to_be_visible(timeout=CHAT)
    camille.page.goto(f"{chat_evim.url}/settings/users/")
    expect(camille.room().locator("textarea.chat-textarea")).to_be_visible(timeout=CHAT)
    camille.page.goto(f"{chat_evim.url}/im/")
    expect(camille.room().locator("textarea.chat-textarea")).to_be_visible(timeout=CHAT)

    assert [url for url in camille.requests if not url.startswith(chat_evim.url + "/")] == []
    ws_url = chat_evim.url.replace("http://", "ws://") + "/im/ws"
    assert camille.websockets and set(camille.websockets) == {ws_url}
    # Converse's files come from evim: the module, its French texts (a chunk beside it).
    assert any("/static/converse/converse.min" in url for url in camille.requests)
    assert any(re.search(r"/static/converse/chunkjs/locales/fr-", url) for url in camille.requests)
    # The Content-Security-Policy blocked nothing either (no sponsor logos, no inline script).
    assert [text for text in camille.console if "Content Security Policy" in text] == []


def test_no_password_in_any_response(visit: Callable[[str], Visitor], chat_evim: LiveEvim) -> None:
    camille, jeanne = visit("camille"), visit("jeanne")
    for person in (camille, jeanne):
        expect(person.room().locator("textarea.chat-textarea")).to_be_visible(timeout=CHAT)
        person.page.goto(f"{chat_evim.url}/profile/")
        expect(person.room().locator("textarea.chat-textarea")).to_be_visible(timeout=CHAT)
        person.page.goto(f"{chat_evim.url}/im/")
        expect(person.room().locator("textarea.chat-textarea")).to_be_visible(timeout=CHAT)
    camille.page.goto(f"{chat_evim.url}/messaging/settings/")
    expect(camille.page.locator("h1")).to_have_text("Messagerie")

    output = chat_evim.evim("shell", "--verbosity=0", "-c", READ_PASSWORDS).stdout
    passwords = output.split()
    assert len(passwords) == 3  # camille, jeanne, oliver
    for person in (camille, jeanne):
        # The chat got its one-time tokens from the credentials URL, and that is all it got.
        assert any(urlsplit(url).path == "/im/credentials" for url, _body in person.bodies)
        assert any(b"evim-token:" in body for _url, body in person.bodies)
        for password in passwords:
            secret = password.encode()
            assert [url for url, body in person.bodies if secret in body] == []
            assert [frame for _socket, frame in person.frames if password in frame] == []


def test_french_for_french_users_english_for_english_users(
    visit: Callable[[str], Visitor],
) -> None:
    jeanne, oliver = visit("jeanne"), visit("oliver")  # both browsers say fr-FR
    expect(jeanne.page.locator("converse-root")).to_have_attribute("lang", "fr", timeout=CHAT)
    expect(oliver.page.locator("converse-root")).to_have_attribute("lang", "en", timeout=CHAT)
    expect(jeanne.room().get_by_role("button", name="Envoyer le message")).to_be_visible(
        timeout=CHAT
    )
    expect(oliver.room().get_by_role("button", name="Send the message")).to_be_visible(timeout=CHAT)
    expect(jeanne.room().locator(".toggle-chatbox-button")).to_have_attribute(
        "title", "Réduire ce salon"
    )
    expect(oliver.room().locator(".toggle-chatbox-button")).to_have_attribute(
        "title", "Minimize this groupchat"
    )
    expect(oliver.page.locator("html")).to_have_attribute("lang", "en")


def no_chat_on(visitor: Visitor, page_url: str) -> None:
    """The page is there, and nothing of the chat: no script, no style, no connection."""
    visitor.page.goto(page_url)
    expect(visitor.page.locator("main")).to_be_visible()
    expect(visitor.page.locator("#evim-chat-config")).to_have_count(0)
    expect(visitor.page.locator("converse-root")).to_have_count(0)
    chat_files = [url for url in visitor.requests if "/static/converse/" in url or "chat." in url]
    assert chat_files == []
    assert visitor.websockets == []
    assert not any(urlsplit(url).path == "/im/credentials" for url in visitor.requests)


def test_no_chat_for_a_user_without_an_account(
    visit: Callable[[str], Visitor], chat_evim: LiveEvim
) -> None:
    ines = visit("ines")
    no_chat_on(ines, f"{chat_evim.url}/")
    no_chat_on(ines, f"{chat_evim.url}/profile/")
    no_chat_on(ines, f"{chat_evim.url}/im/")
    expect(ines.page.locator("[data-card=no-chat]")).to_contain_text(
        "Vous n’avez pas encore de compte Jabber"
    )


def test_no_chat_when_messaging_is_disabled(
    browser: Browser, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with running_evim(tmp_path_factory.mktemp("chat-off"), messaging=False) as disabled:
        disabled.evim("shell", "-c", SEED_CAMILLE_ACCOUNT)
        context = browser.new_context(locale="fr-FR")
        page = context.new_page()
        visitor = Visitor(page)
        page.on("request", lambda request: visitor.requests.append(request.url))
        page.on("websocket", lambda socket: visitor.websockets.append(socket.url))
        log_in(page, disabled, "camille")
        no_chat_on(visitor, f"{disabled.url}/")
        response = page.goto(f"{disabled.url}/im/")
        assert response is not None and response.status == 404
        context.close()
