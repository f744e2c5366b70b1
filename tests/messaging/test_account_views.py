"""The Messagerie screens: who may do what, and what each form accepts."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper

from evim.backoffice.models import AuditEntry, User
from evim.messaging import actions, encryption
from evim.messaging.models import JabberAccount, MessagingPreferences
from tests.fixtures.users import client_for

SECRET = "s3cret-Jabber-password"


@pytest.fixture
def jeanne_account(jeanne: User, messaging_enabled: Path) -> JabberAccount:
    return actions.do_create_account(
        acting_user=None, user=jeanne, jid="jeanne@jabber.example", password=SECRET
    )


def admin_routes(account: JabberAccount) -> list[tuple[str, str]]:
    return [
        ("get", "/messaging/settings/"),
        ("get", "/messaging/accounts/new/"),
        ("post", "/messaging/accounts/new/"),
        ("get", f"/messaging/accounts/{account.pk}/"),
        ("post", f"/messaging/accounts/{account.pk}/"),
        ("get", f"/messaging/accounts/{account.pk}/delete/"),
        ("post", f"/messaging/accounts/{account.pk}/delete/"),
        ("post", f"/messaging/accounts/{account.pk}/test/"),
        ("post", "/messaging/accounts/test/"),
        ("post", "/messaging/accounts/provision/"),
        ("post", "/messaging/self-service/"),
    ]


def test_authorisation_matrix(
    camille: User, oliver: User, jeanne_account: JabberAccount, settings: SettingsWrapper
) -> None:
    """Anonymous → login; a colleague → 403, on every route and method."""
    for method, path in admin_routes(jeanne_account):
        anonymous = getattr(Client(), method)(path)
        assert anonymous.status_code == 302, (method, path)
        assert anonymous["Location"].startswith("/login/"), (method, path)
        assert getattr(client_for(oliver), method)(path).status_code == 403, (method, path)
    # Nothing changed through any of those requests.
    assert JabberAccount.objects.get().jid == "jeanne@jabber.example"
    assert MessagingPreferences.current().self_service is False
    # The self-service page is a colleague's own, and closed until administrators open it.
    assert Client().get("/messaging/my-account/").status_code == 302
    assert client_for(oliver).get("/messaging/my-account/").status_code == 403


def test_administrator_reaches_every_route(
    camille: User, jeanne_account: JabberAccount, settings: SettingsWrapper, tmp_path: Path
) -> None:
    # Connection tests go to a closed local port instead of the Internet: refused at once.
    settings.EVIM_XMPP_ADDRESS_OVERRIDES = "jabber.example=127.0.0.1:9"
    settings.EVIM_XMPP_SERVER = "managed"
    for method, path in admin_routes(jeanne_account):
        if path.endswith("/delete/") and method == "post":
            continue  # deleting is checked on its own below; the other routes need the account
        response = getattr(client_for(camille), method)(path)
        assert response.status_code in (200, 302), (method, path, response.status_code)
    jeanne_account.refresh_from_db()
    assert jeanne_account.last_test_outcome == "refused"


def test_only_post_changes_anything(camille: User, jeanne_account: JabberAccount) -> None:
    client = client_for(camille)
    for path in (
        "/messaging/accounts/test/",
        "/messaging/accounts/provision/",
        "/messaging/self-service/",
        f"/messaging/accounts/{jeanne_account.pk}/test/",
    ):
        assert client.get(path).status_code == 405, path


def test_csrf_is_required(camille: User, jeanne_account: JabberAccount) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(camille)
    response = client.post(f"/messaging/accounts/{jeanne_account.pk}/delete/")
    assert response.status_code == 403
    assert JabberAccount.objects.filter(pk=jeanne_account.pk).exists()


def test_disabled_messaging_has_no_pages(
    camille: User, tmp_path: Path, settings: SettingsWrapper
) -> None:
    from evim.messaging.project_config import get_messaging_config

    settings.EVIM_PROJECT_YML = tmp_path / "absent.yml"
    get_messaging_config.cache_clear()
    assert client_for(camille).get("/messaging/settings/").status_code == 404
    assert client_for(camille).get("/messaging/accounts/new/").status_code == 404
    get_messaging_config.cache_clear()


def test_list_shows_each_account(camille: User, jeanne_account: JabberAccount) -> None:
    page = client_for(camille).get("/messaging/settings/").content.decode()
    assert 'data-account="jeanne"' in page
    assert "jeanne@jabber.example" in page
    assert "Serveur externe" in page
    assert "Non testé" in page
    assert SECRET not in page


def test_create_offers_only_users_without_account_by_name(
    camille: User, jeanne_account: JabberAccount, oliver: User, ines: User
) -> None:
    page = client_for(camille).get("/messaging/accounts/new/").content.decode()
    options = [line for line in page.splitlines() if "<option" in line and 'value=""' not in line]
    # Bennett, Martin, Moreau: ordered by last name; Jeanne (who has an account) absent.
    assert [o.split(">")[1].split("<")[0] for o in options] == [
        "Oliver Bennett (oliver)",
        "Camille Martin (camille)",
        "Inès Moreau (ines)",
    ]


def test_create_maps_and_encrypts(camille: User, ines: User, messaging_enabled: Path) -> None:
    response = client_for(camille).post(
        "/messaging/accounts/new/",
        {"user": ines.pk, "jid": " Ines@Jabber.Example ", "password": SECRET},
    )
    assert response.status_code == 302
    account = JabberAccount.objects.get(user=ines)
    assert account.jid == "ines@jabber.example"
    assert account.kind == JabberAccount.Kind.EXTERNAL
    assert encryption.decrypt_password(account.password_encrypted) == SECRET
    assert AuditEntry.objects.filter(event="jabber_account_created", acting_user=camille).exists()


def test_create_refuses_a_user_who_has_an_account(
    camille: User, jeanne: User, jeanne_account: JabberAccount
) -> None:
    response = client_for(camille).post(
        "/messaging/accounts/new/", {"user": jeanne.pk, "jid": "j2@x.example", "password": "p"}
    )
    assert response.status_code == 200
    assert "Sélectionnez un choix valide" in response.content.decode()
    assert JabberAccount.objects.get(user=jeanne).jid == "jeanne@jabber.example"


def test_a_jid_belongs_to_one_user(
    camille: User, ines: User, jeanne_account: JabberAccount
) -> None:
    response = client_for(camille).post(
        "/messaging/accounts/new/",
        {"user": ines.pk, "jid": "JEANNE@jabber.example", "password": "p"},
    )
    assert "jeanne@jabber.example est déjà le compte de Jeanne Durand" in response.content.decode()
    assert not JabberAccount.objects.filter(user=ines).exists()


def test_lock_host_accepts_only_the_main_host(
    camille: User, ines: User, messaging_enabled: Path, settings: SettingsWrapper
) -> None:
    settings.EVIM_XMPP_LOCK_HOST = True
    settings.EVIM_XMPP_DOMAIN = "lilas.example"
    client = client_for(camille)
    refused = client.post(
        "/messaging/accounts/new/", {"user": ines.pk, "jid": "ines@gmail.example", "password": "p"}
    )
    assert "Seules les adresses de lilas.example sont acceptées" in refused.content.decode()
    accepted = client.post(
        "/messaging/accounts/new/", {"user": ines.pk, "jid": "ines@lilas.example", "password": "p"}
    )
    assert accepted.status_code == 302


def test_edit_keeps_the_user_and_a_blank_password(
    camille: User, jeanne: User, jeanne_account: JabberAccount
) -> None:
    """The original reassigned the mapping to the editing administrator: not here."""
    response = client_for(camille).post(
        f"/messaging/accounts/{jeanne_account.pk}/",
        # A forged "user" field is ignored: the form has none.
        {"jid": "jeanne.durand@jabber.example", "password": "", "user": camille.pk},
    )
    assert response.status_code == 302
    jeanne_account.refresh_from_db()
    assert jeanne_account.user == jeanne
    assert jeanne_account.jid == "jeanne.durand@jabber.example"
    assert encryption.decrypt_password(jeanne_account.password_encrypted) == SECRET
    assert not JabberAccount.objects.filter(user=camille).exists()


def test_edit_sets_a_new_password(camille: User, jeanne_account: JabberAccount) -> None:
    client_for(camille).post(
        f"/messaging/accounts/{jeanne_account.pk}/",
        {"jid": jeanne_account.jid, "password": "a-new-one"},
    )
    jeanne_account.refresh_from_db()
    assert encryption.decrypt_password(jeanne_account.password_encrypted) == "a-new-one"


def test_edit_page_shows_no_password(camille: User, jeanne_account: JabberAccount) -> None:
    page = client_for(camille).get(f"/messaging/accounts/{jeanne_account.pk}/").content.decode()
    assert SECRET not in page
    assert jeanne_account.password_encrypted not in page
    assert 'name="user"' not in page


def test_delete_asks_then_removes(camille: User, jeanne_account: JabberAccount) -> None:
    client = client_for(camille)
    confirm = client.get(f"/messaging/accounts/{jeanne_account.pk}/delete/").content.decode()
    assert "Retirer le compte Jabber jeanne@jabber.example à Jeanne Durand" in confirm
    # External account: nothing to delete on evim's server, so the question is not asked.
    assert "delete_on_server" not in confirm
    assert client.post(f"/messaging/accounts/{jeanne_account.pk}/delete/").status_code == 302
    assert not JabberAccount.objects.exists()


def test_deleting_a_user_removes_the_mapping(jeanne: User, jeanne_account: JabberAccount) -> None:
    jeanne.delete()
    assert not JabberAccount.objects.exists()


def test_profile_shows_the_jid_read_only(jeanne: User, jeanne_account: JabberAccount) -> None:
    page = client_for(jeanne).get("/profile/").content.decode()
    assert "<code>jeanne@jabber.example</code>" in page
    assert 'name="jid"' not in page
    assert SECRET not in page


def test_self_service(camille: User, oliver: User, messaging_enabled: Path) -> None:
    assert client_for(oliver).get("/messaging/my-account/").status_code == 403
    client_for(camille).post("/messaging/self-service/", {"self_service": "on"})
    assert MessagingPreferences.current().self_service
    client = client_for(oliver)
    assert "Set my Jabber account" in client.get("/profile/").content.decode()
    response = client.post(
        "/messaging/my-account/", {"jid": "oliver@jabber.example", "password": SECRET}
    )
    assert response.status_code == 302
    account = JabberAccount.objects.get(user=oliver)
    assert account.jid == "oliver@jabber.example"
    assert AuditEntry.objects.filter(event="jabber_account_created", acting_user=oliver).exists()
    client_for(camille).post("/messaging/self-service/", {})
    assert client.get("/messaging/my-account/").status_code == 403
