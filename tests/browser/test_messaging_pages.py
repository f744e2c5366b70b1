"""Paramétrage > Général > Messagerie in a real Chromium, against a real evim and the
managed Prosody it started: create accounts, test them, see them in the profile."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_backoffice_pages import log_in, shoot
from tests.fixtures.live_evim import LiveEvim

pytestmark = pytest.mark.browser


def test_create_and_test_accounts(page: Page, live_evim: LiveEvim, tmp_path: Path) -> None:
    log_in(page, live_evim, "camille")
    page.locator("summary", has_text="Paramétrage").click()
    page.locator("[data-menu=messaging-settings]").click()
    expect(page.locator("h1")).to_have_text("Messagerie")
    expect(page.locator("[data-card=without-account] [data-user=jeanne]")).to_be_visible()

    waiting = page.locator("[data-card=without-account] li").count()
    page.locator("[data-action=provision-all]").click()
    # The page streams its progress, then the accounts it created.
    expect(page.locator("h1")).to_have_text("Création des comptes sur le serveur géré")
    results = page.locator("[data-results=provisioning]")
    expect(results).to_contain_text(f"{waiting} comptes créés.")
    expect(results).to_contain_text(re.compile(r"Jeanne Durand — jeanne(-\d+)?@localhost"))
    final = page.locator(".progress-stream progress").last
    expect(final).to_have_attribute("value", str(waiting))
    expect(final).to_have_attribute("max", str(waiting))
    shoot(page, "provisioning", tmp_path)
    page.get_by_role("link", name="Retour à la messagerie").click()
    jeanne = page.locator("tr[data-account=jeanne]")
    expect(jeanne).to_contain_text(re.compile(r"jeanne(-\d+)?@localhost"))
    expect(jeanne).to_contain_text("Serveur géré")
    expect(page.locator("[data-card=without-account]")).to_have_count(0)

    page.locator("[data-action=test-all]").click()
    expect(page.locator(".flash-info")).to_contain_text("fonctionnent, 0 en échec")
    expect(jeanne.locator("[data-outcome]")).to_have_attribute("data-outcome", "ok")
    expect(jeanne).to_contain_text("Connecté")
    shoot(page, "messaging", tmp_path)


def test_colleague_sees_their_address_read_only(page: Page, live_evim: LiveEvim) -> None:
    log_in(page, live_evim, "jeanne")
    page.goto(f"{live_evim.url}/profile/")
    address = page.locator("[data-card=jabber-account] [data-field=jid]")
    expect(address).to_contain_text(re.compile(r"jeanne(-\d+)?@localhost"))
    expect(page.locator("input[name=jid]")).to_have_count(0)
