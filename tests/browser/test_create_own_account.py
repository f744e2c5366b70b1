"""Registration allowed, in a real Chromium against a real ``evim run``: the setting stored
before evim starts is in the managed Prosody's configuration from its first start, and a
user without an account creates theirs from the profile, after which the chat is there."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.fixtures.live_evim import LiveEvim, running_evim

pytestmark = pytest.mark.browser

CHAT = 30_000


@pytest.fixture(scope="module")
def registering_evim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveEvim]:
    setup = (
        "from evim.service.models import StoredOption\n"
        "StoredOption.objects.create(name='registration_allowed', value=True)\n"
        "StoredOption.objects.create(name='stun_servers', value=['stun.example.org:3478'])\n"
    )
    with running_evim(tmp_path_factory.mktemp("registering-evim"), setup=setup) as instance:
        yield instance


def test_prosody_starts_with_the_stored_settings(registering_evim: LiveEvim) -> None:
    config = (registering_evim.data_dir / "prosody" / "prosody.cfg.lua").read_text()
    main_host = config.split('VirtualHost "localhost"', 1)[1].split("\n\n", 1)[0]
    assert "allow_registration = true" in main_host
    assert 'host = "stun.example.org"' in main_host
    assert 'Component "pubsub.localhost" "pubsub"' in config


def test_create_my_chat_account_from_the_profile(
    page: Page, registering_evim: LiveEvim, tmp_path: Path
) -> None:
    page.goto(f"{registering_evim.url}/login/")
    page.get_by_label("Identifiant").fill("oliver")
    page.get_by_label("Mot de passe").fill(registering_evim.password)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(f"{registering_evim.url}/")
    expect(page.locator("converse-root")).to_have_count(0)  # no account: no chat

    page.goto(f"{registering_evim.url}/profile/")
    card = page.locator("[data-card=jabber-account]")
    card.get_by_role("button", name="Create my chat account").click()
    page.wait_for_url(f"{registering_evim.url}/profile/")
    expect(page.locator("body")).to_contain_text("Your chat account is ready: oliver@localhost")
    expect(card.locator("[data-field=jid]")).to_have_text("oliver@localhost")
    expect(card.get_by_role("button", name="Create my chat account")).to_have_count(0)
    # The chat logs in by itself with the new account and joins the structure's room.
    expect(page.locator("converse-root")).to_have_attribute("lang", "en", timeout=CHAT)
    room = page.locator("converse-muc[jid='lilas@conference.localhost']")
    expect(room.locator("textarea.chat-textarea")).to_be_visible(timeout=CHAT)
