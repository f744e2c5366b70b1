"""What a person sees in the back office, in a real Chromium against a real evim."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.fixtures.live_evim import LiveEvim

pytestmark = pytest.mark.browser

# Set EVIM_SCREENSHOTS to a folder to keep the screenshots (docs/ uses them).
SCREENSHOTS = os.environ.get("EVIM_SCREENSHOTS")


def shoot(page: Page, name: str, tmp_path: Path) -> None:
    folder = Path(SCREENSHOTS) if SCREENSHOTS else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def log_in(page: Page, live_evim: LiveEvim, username: str) -> None:
    page.goto(f"{live_evim.url}/login/")
    page.get_by_label("Identifiant").fill(username)
    page.get_by_label("Mot de passe").fill(live_evim.password)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(f"{live_evim.url}/")


def test_login_menu_and_logout(page: Page, live_evim: LiveEvim, tmp_path: Path) -> None:
    page.goto(f"{live_evim.url}/")
    expect(page).to_have_url(f"{live_evim.url}/login/?next=/")
    expect(page.locator("h1")).to_have_text("Théâtre des Lilas")
    shoot(page, "login", tmp_path)

    log_in(page, live_evim, "camille")
    expect(page.locator("h1")).to_have_text("Bonjour, Camille")
    # Paramétrage > Général > Messagerie, as in e-venement.
    page.get_by_text("Paramétrage").click()
    panel = page.locator("[data-menu-section=settings] .dropdown-panel")
    expect(panel).to_be_visible()
    expect(panel.locator(".menu-group-label")).to_have_text("Général")
    expect(panel.locator("[data-menu=messaging-settings]")).to_have_text("Messagerie")
    shoot(page, "menu", tmp_path)
    panel.locator("[data-menu=messaging-settings]").click()
    expect(page.locator("h1")).to_have_text("Messagerie")
    expect(page.locator("[data-list=chatrooms]")).to_contain_text("lilas@conference.localhost")

    page.get_by_role("button", name="Se déconnecter").click()
    expect(page).to_have_url(f"{live_evim.url}/login/")
    page.goto(f"{live_evim.url}/settings/users/")
    expect(page).to_have_url(f"{live_evim.url}/login/?next=/settings/users/")


def test_colleague_has_no_settings_of_others(page: Page, live_evim: LiveEvim) -> None:
    log_in(page, live_evim, "jeanne")
    page.get_by_text("Paramétrage").click()
    panel = page.locator("[data-menu-section=settings] .dropdown-panel")
    expect(panel.locator("[data-menu=profile]")).to_be_visible()
    expect(panel.locator("[data-menu=messaging-settings]")).to_have_count(0)
    expect(panel.locator("[data-menu=users]")).to_have_count(0)
    response = page.goto(f"{live_evim.url}/settings/users/")
    assert response is not None and response.status == 403


def test_english_user_reads_english(page: Page, live_evim: LiveEvim) -> None:
    log_in(page, live_evim, "oliver")
    expect(page.locator("h1")).to_have_text("Hello, Oliver")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def test_administrator_creates_a_user(page: Page, live_evim: LiveEvim, tmp_path: Path) -> None:
    log_in(page, live_evim, "camille")
    page.goto(f"{live_evim.url}/settings/users/new/")
    page.get_by_label("Identifiant").fill("ines")
    page.get_by_label("Prénom").fill("Inès")
    page.get_by_label("Nom", exact=True).fill("Moreau")
    page.get_by_label("Mot de passe", exact=True).fill("une-phrase-de-passe-longue")
    page.get_by_label("Mot de passe (confirmation)").fill("une-phrase-de-passe-longue")
    page.get_by_role("button", name="Créer").click()
    expect(page).to_have_url(f"{live_evim.url}/settings/users/")
    expect(page.locator(".flash-success")).to_have_text("Utilisateur Inès Moreau créé.")
    expect(page.locator("tr[data-user=ines]")).to_contain_text("Inès Moreau")
    shoot(page, "users", tmp_path)


def test_small_screen_folds_the_menu(browser: Browser, live_evim: LiveEvim, tmp_path: Path) -> None:
    context = browser.new_context(locale="fr-FR", viewport={"width": 390, "height": 844})
    page = context.new_page()
    log_in(page, live_evim, "camille")
    menu = page.locator("#mainnav")
    expect(menu).to_be_hidden()
    toggle = page.get_by_role("button", name="Menu")
    toggle.click()
    expect(menu).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    # Nothing sticks out sideways on a phone.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    shoot(page, "phone-menu", tmp_path)
    context.close()


def test_pages_load_nothing_from_elsewhere(page: Page, live_evim: LiveEvim) -> None:
    requested: list[str] = []
    console: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("console", lambda message: console.append(message.text))
    log_in(page, live_evim, "camille")
    page.goto(f"{live_evim.url}/settings/users/")
    assert requested, "the browser made no request at all"
    foreign = [url for url in requested if not url.startswith(live_evim.url)]
    assert foreign == []
    # The stylesheet really applies (served by evim, hashed name, cached for a year).
    colour = page.evaluate("getComputedStyle(document.querySelector('.topbar')).backgroundColor")
    assert colour == "rgb(38, 43, 56)"
    # The Content-Security-Policy forbids anything else, and our own pages break none of it.
    response = page.goto(f"{live_evim.url}/")
    assert response is not None
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert [text for text in console if "Content Security Policy" in text] == []
