"""A guest link in Chromium, end to end: an administrator makes it on the Guest links page, a
guest with no account opens it in another browser, chooses a nickname and chats in the
room with the administrator's chat bar — against a real evim and its managed Prosody with
the anonymous host."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.test_backoffice_pages import log_in
from tests.browser.test_chat import CHAT, message, say
from tests.fixtures.live_evim import LiveEvim, running_evim
from tests.gateway.test_guests import ANONYMOUS_MODE

pytestmark = pytest.mark.browser

ROOM = "accueil-public@conference.localhost"


@pytest.fixture(scope="module")
def guest_evim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveEvim]:
    with running_evim(
        tmp_path_factory.mktemp("guest-browser"), setup=ANONYMOUS_MODE % "True"
    ) as instance:
        instance.evim("accounts", "provision", "camille")
        # The guests' room: members-only, camille its owner (Playwright's loop runs here:
        # Prosody's own console, not an asyncio admin client).
        subprocess.run(
            [
                "prosodyctl",
                "--config",
                str(instance.data_dir / "prosody" / "prosody.cfg.lua"),
                "shell",
            ],
            input=f">local room = prosody.hosts['conference.localhost'].modules.muc"
            f".create_room('{ROOM}'); room:set_members_only(true); room:set_persistent(true); "
            "room:set_affiliation(true, 'camille@localhost', 'owner'); room:save(true)\n",
            text=True,
            check=True,
            capture_output=True,
        )
        yield instance


def test_a_guest_chats_with_the_staff_from_a_link(browser: Browser, guest_evim: LiveEvim) -> None:
    staff = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
    outside = browser.new_context(locale="en-GB", viewport={"width": 1000, "height": 800})
    try:
        camille = staff.new_page()
        log_in(camille, guest_evim, "camille")
        # Paramétrage > Général > Liens invités: make a link to the room.
        camille.goto(f"{guest_evim.url}/messaging/guest-links/")
        camille.locator("input[name=room]").fill(ROOM)
        camille.locator("input[name=note]").fill("Régie de la compagnie")
        camille.locator("[data-action=make-guest-link]").click()
        link = camille.locator("[data-guest-link]").get_attribute("data-guest-link")
        assert link and link.startswith(f"{guest_evim.url}/guest/")
        expect(camille.locator("tr[data-state=valid]")).to_have_count(1)
        # Her chat bar opens the room.
        camille.goto(f"{guest_evim.url}/#converse/room?jid={ROOM}")
        camille_room = camille.locator(f"converse-muc[jid='{ROOM}']")
        expect(camille_room.locator("textarea.chat-textarea")).to_be_visible(timeout=CHAT)

        guest = outside.new_page()
        requests: list[str] = []
        guest.on("request", lambda request: requests.append(request.url))
        guest.goto(link)
        # English (the browser's language), no back-office menu, a nickname asked.
        expect(guest.locator("[data-card=guest-nickname]")).to_contain_text(
            "Choose the name the others will see"
        )
        expect(guest.locator("nav.mainnav")).to_have_count(0)
        guest.get_by_label("Your name in the room").fill("Marie")
        guest.locator("[data-action=enter]").click()
        expect(guest.locator("[data-guest=nickname]")).to_have_text("You are Marie, a guest")
        guest_room = guest.locator(f"converse-muc[jid='{ROOM}']")
        expect(guest_room.locator("textarea.chat-textarea")).to_be_visible(timeout=CHAT)

        say(guest_room, "Bonjour, la fiche technique est prête ?")
        expect(message(camille_room, "Bonjour, la fiche technique est prête ?")).to_be_visible(
            timeout=CHAT
        )
        say(camille_room, "Oui, je vous l'envoie.")
        expect(message(guest_room, "Oui, je vous l'envoie.")).to_be_visible(timeout=CHAT)
        # The guest is in the room under the nickname chosen, as the staff sees it.
        expect(camille_room.locator(".chat-msg__author", has_text="Marie")).to_be_visible()
        # Everything the guest's page fetched came from evim.
        assert requests and all(url.startswith(guest_evim.url) for url in requests), requests

        # Revoked: the guest's chat ends and says what to do.
        camille.goto(f"{guest_evim.url}/messaging/guest-links/")
        camille.locator("[data-action=revoke]").click()
        expect(camille.locator("tr[data-state=revoked]")).to_have_count(1)
        expect(guest.locator("[data-chat=guest-ended]")).to_contain_text(
            "Ask the person who sent it to you for a new one.", timeout=CHAT
        )
        guest.goto(link)
        expect(guest.locator("[data-card=guest-link-unusable]")).to_contain_text(
            "This guest link has been withdrawn."
        )
    finally:
        staff.close()
        outside.close()
