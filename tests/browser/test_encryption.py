"""Encryption (the service's OMEMO option) in Chromium against a real evim and its managed
Prosody.  On: camille turns OMEMO on in her chat with jeanne and writes; jeanne's page shows
the text, while what went through the server and what it archived is encrypted.  Off: no
padlock in the chat, the OMEMO library never requested, no WebAssembly in the policy."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Locator, Page, Request, Response, WebSocket, expect

from tests.browser.test_backoffice_pages import log_in
from tests.browser.test_chat import message, say
from tests.fixtures.http_session import BackOfficeSession
from tests.fixtures.live_evim import LiveEvim, running_evim
from tests.messaging.test_chat import chat_config

pytestmark = pytest.mark.browser

WASM = "'wasm-unsafe-eval'"
LEGACY = "eu.siacs.conversations.axolotl"
# OMEMO's encrypted element: Converse 14 publishes keys for both versions and sends OMEMO 2
# (urn:xmpp:omemo:2) to a contact who has them; the legacy version (XEP-0384 0.3) counts too.
OMEMO_ELEMENT = re.compile(
    r"<encrypted xmlns=[\"'](urn:xmpp:omemo:2|eu\.siacs\.conversations\.axolotl)[\"']"
)
LIBRARY = "/static/converse/libomemo.esm.min.js"
# Under its hashed name (curve25519_compiled.3f2a9c1b7d4e.wasm).
WEBASSEMBLY_PREFIX = "/static/converse/curve25519_compiled."
OMEMO_NAMESPACE = re.compile(rb"urn:xmpp:omemo:2|eu\.siacs\.conversations\.axolotl")
SECRET = "Le code du coffre est 4712."
# Logging in, and on the first login with encryption making the keys and publishing them:
# generous on a loaded machine.
CHAT = 60_000


@pytest.fixture(scope="module")
def omemo_evim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveEvim]:
    """camille and jeanne with accounts, colleagues in each other's contacts."""
    with running_evim(tmp_path_factory.mktemp("encryption")) as instance:
        instance.evim("accounts", "provision", "camille", "jeanne")
        instance.evim("sync")
        yield instance


def change_encryption(evim: LiveEvim, on: bool) -> None:
    """What an administrator saves on the settings page; the running evim sees it within its
    cache's 5 seconds: until then, wait for its pages to say so."""
    evim.evim(
        "shell",
        "-c",
        "from evim.service.actions import do_change_service_settings as d\n"
        f"d(acting_user=None, values={{'encryption': {on!r}}})",
    )
    session = BackOfficeSession(evim.url)
    session.log_in("camille", evim.password)
    deadline = time.monotonic() + 20
    while home_chat(session)["encryption"] is not on:
        assert time.monotonic() < deadline, f"encryption never turned {'on' if on else 'off'}"
        time.sleep(0.1)  # polling interval of the condition above, not a wait for an outcome


def home_chat(session: BackOfficeSession) -> dict[str, Any]:
    """The chat's settings on the home page (what the browser tests check is what they do)."""
    config = chat_config(session.get("/")[1])
    assert config is not None, "no chat on the home page"
    return config


@pytest.fixture
def encryption(omemo_evim: LiveEvim) -> Iterator[None]:
    """Encryption on for this test only."""
    change_encryption(omemo_evim, True)
    try:
        yield
    finally:
        change_encryption(omemo_evim, False)


@dataclass
class Person:
    """One person's browser profile: the page, what it asked for and its chat's frames."""

    page: Page
    requests: list[Request] = field(default_factory=list)
    #: The Content-Security-Policy of each page, by path.
    policies: list[tuple[str, str]] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    sockets: list[WebSocket] = field(default_factory=list)
    #: Every frame the page's WebSockets received, and those it sent.
    received: list[str] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)

    def record_policy(self, response: Response) -> None:
        if response.request.resource_type == "document":
            policy = response.headers.get("content-security-policy", "")
            self.policies.append((urlsplit(response.url).path, policy))

    def chat_pages(self) -> list[str]:
        """The policies of the pages that carried the chat (all but the login page)."""
        assert self.policies, "no page loaded"
        return [policy for path, policy in self.policies if path != "/login/"]

    def follow(self, socket: WebSocket) -> None:
        self.sockets.append(socket)
        socket.on("framereceived", lambda frame: self.received.append(str(frame)))
        socket.on("framesent", lambda frame: self.sent.append(str(frame)))

    def chat_with(self, jid: str) -> Locator:
        return self.page.locator(f"converse-chat[jid='{jid}']")

    def open_chat(self, url: str, jid: str) -> Locator:
        self.page.goto(f"{url}/#converse/chat?jid={jid}")
        box = self.chat_with(jid)
        expect(box.locator("textarea.chat-textarea")).to_be_visible(timeout=CHAT)
        return box


@pytest.fixture
def visit(browser: Browser, omemo_evim: LiveEvim) -> Iterator[Callable[[str], Person]]:
    contexts = []

    def open_as(username: str) -> Person:
        context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
        contexts.append(context)
        person = Person(context.new_page())
        page = person.page
        page.on("request", lambda request: person.requests.append(request))
        page.on("console", lambda entry: person.console.append(f"{entry.type}: {entry.text}"))
        page.on("websocket", person.follow)
        page.on("response", person.record_policy)
        log_in(page, omemo_evim, username)
        return person

    yield open_as
    for context in contexts:
        context.close()


def published_bundle(person: Person) -> bool:
    """Whether the server confirmed the person's OMEMO bundle (their public keys), the last
    step of Converse's OMEMO login, after the device list."""
    asked = [
        found.group(1)
        for frame in person.sent
        if f"{LEGACY}.bundles:" in frame and "<publish" in frame
        if (found := re.search(r"<iq[^>]* id=[\"']([^\"']+)", frame))
    ]
    return any(
        re.search(rf"<iq[^>]* id=[\"']{re.escape(id_)}[\"']", frame)
        and re.search(r"<iq[^>]* type=[\"']result", frame)
        for id_ in asked
        for frame in person.received
    )


def wait_for_published_bundle(person: Person) -> None:
    """Until published_bundle (Playwright delivers the frames only inside its own calls:
    none arrives between the check and the wait)."""
    deadline = time.monotonic() + CHAT / 1000
    while not published_bundle(person):
        assert time.monotonic() < deadline, "the OMEMO bundle was never published"
        if person.sockets:
            person.sockets[-1].wait_for_event("framereceived", timeout=CHAT)
        else:
            person.page.wait_for_event("websocket", timeout=CHAT)


def server_files(evim: LiveEvim) -> dict[str, bytes]:
    """Everything the managed Prosody keeps: accounts, contacts, PEP nodes, archives."""
    data = evim.data_dir / "prosody" / "data"
    return {
        str(path.relative_to(data)): path.read_bytes() for path in data.rglob("*") if path.is_file()
    }


def outside(person: Person, evim: LiveEvim) -> list[str]:
    return [
        request.url for request in person.requests if not request.url.startswith(f"{evim.url}/")
    ]


def asked_for(person: Person, path: str) -> bool:
    return any(urlsplit(request.url).path.startswith(path) for request in person.requests)


def test_an_encrypted_message_is_read_in_the_browser_and_not_on_the_server(
    encryption: None, visit: Callable[[str], Person], omemo_evim: LiveEvim
) -> None:
    # Both log in: on this first login in their browser, Converse makes their keys and
    # publishes them on the server (PEP).
    jeanne = visit("jeanne")
    wait_for_published_bundle(jeanne)
    camille = visit("camille")
    wait_for_published_bundle(camille)

    # camille turns encryption on in her chat with jeanne (off until she does) and writes.
    box = camille.open_chat(omemo_evim.url, "jeanne@localhost")
    padlock = box.locator("converse-chat-toolbar .toggle-omemo")
    expect(padlock).to_have_attribute("data-disabled", "false", timeout=CHAT)
    expect(padlock.locator("converse-icon.fa-unlock")).to_be_visible()
    padlock.click()
    expect(padlock.locator("converse-icon.fa-lock")).to_be_visible()
    say(box, SECRET)

    # jeanne's page decrypts it and shows it.
    expect(message(jeanne.chat_with("camille@localhost"), SECRET)).to_be_visible(timeout=CHAT)

    # What went through the server: an OMEMO element, never the text — neither what
    # camille's page sent nor what jeanne's page received.
    encrypted = [frame for frame in jeanne.received if OMEMO_ELEMENT.search(frame)]
    assert encrypted and all("camille@localhost" in frame for frame in encrypted)
    assert [frame for frame in camille.sent if OMEMO_ELEMENT.search(frame)]
    assert not [frame for frame in camille.sent + jeanne.received if SECRET in frame]
    # What the server keeps (jeanne's archive among it): the encrypted message, not the text.
    kept = server_files(omemo_evim)
    archive = kept.get("localhost/archive/jeanne.list", b"")
    assert OMEMO_NAMESPACE.search(archive), sorted(kept)
    assert not [name for name, content in kept.items() if SECRET.encode() in content]

    # All of it from evim: the library and its WebAssembly, nothing from elsewhere, and the
    # pages' policy allowed WebAssembly (and refused nothing the chat needed).
    for person in (camille, jeanne):
        assert outside(person, omemo_evim) == []
        assert asked_for(person, LIBRARY) and asked_for(person, WEBASSEMBLY_PREFIX)
        assert person.chat_pages() and all(WASM in policy for policy in person.chat_pages())
        assert not [
            path for path, policy in person.policies if WASM in policy and path == "/login/"
        ]
        assert [text for text in person.console if "Content Security Policy" in text] == []


def test_off_no_padlock_no_library_no_webassembly(
    visit: Callable[[str], Person], omemo_evim: LiveEvim
) -> None:
    jeanne, camille = visit("jeanne"), visit("camille")
    box = camille.open_chat(omemo_evim.url, "jeanne@localhost")
    say(box, "Le rideau à 20 h.")
    expect(message(jeanne.chat_with("camille@localhost"), "Le rideau à 20 h.")).to_be_visible(
        timeout=CHAT
    )
    # The toolbar is there (the emoji picker), the padlock is not.
    expect(box.locator("converse-chat-toolbar converse-emoji-dropdown")).to_be_visible()
    expect(box.locator(".toggle-omemo")).to_have_count(0)
    for person in (camille, jeanne):
        assert not asked_for(person, LIBRARY) and not asked_for(person, WEBASSEMBLY_PREFIX)
        assert person.chat_pages() and not [p for _path, p in person.policies if WASM in p]
        # The plugin is not loaded: no keys published, nothing encrypted.
        assert not [frame for frame in person.sent if "omemo" in frame or LEGACY in frame]
        assert outside(person, omemo_evim) == []
    # The message came in clear (the archive may hold encrypted ones from another test: the
    # chat shows their fallback text then).
    carried = [frame for frame in jeanne.received if "Le rideau à 20 h." in frame]
    assert carried and not [frame for frame in carried if OMEMO_ELEMENT.search(frame)]
    sent = [frame for frame in camille.sent if "Le rideau à 20 h." in frame]
    assert sent and not [frame for frame in camille.sent if OMEMO_ELEMENT.search(frame)]
