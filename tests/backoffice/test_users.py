from __future__ import annotations

import pytest
from django.test import Client

from evim.backoffice import actions
from evim.backoffice.models import AuditEntry, User
from tests.fixtures.users import PASSWORD, client_for

NEW_PASSWORD = "another-long-passphrase-7"


def user_routes(target: User) -> list[str]:
    return [
        "/settings/users/",
        "/settings/users/new/",
        f"/settings/users/{target.pk}/",
        f"/settings/users/{target.pk}/delete/",
    ]


@pytest.mark.parametrize("method", ["get", "post"])
def test_authorisation_matrix(camille: User, jeanne: User, oliver: User, method: str) -> None:
    """Anonymous → login page; colleague → 403; administrator → allowed. Every route, method."""
    for path in user_routes(oliver):
        anonymous = getattr(Client(), method)(path)
        assert anonymous.status_code == 302, path
        assert anonymous["Location"].startswith("/login/?next="), path
        assert getattr(client_for(jeanne), method)(path).status_code == 403, path
        # An empty POST is refused by the form (200 with errors) or accepted (delete → 302).
        assert getattr(client_for(camille), method)(path).status_code in (200, 302), path
    assert User.objects.filter(pk=oliver.pk).exists() is (method == "get")


def test_csrf_is_enforced(camille: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(camille)
    response = client.post("/settings/users/new/", {"username": "x"})
    assert response.status_code == 403


def test_create_user(camille: User) -> None:
    response = client_for(camille).post(
        "/settings/users/new/",
        {
            "username": "ines",
            "first_name": "Inès",
            "last_name": "Moreau",
            "email": "ines@example.org",
            "language": "en",
            "is_active": "on",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
        },
    )
    assert response.status_code == 302
    ines = User.objects.get(username="ines")
    assert (ines.get_full_name(), ines.language, ines.is_administrator) == (
        "Inès Moreau",
        "en",
        False,
    )
    assert ines.check_password(NEW_PASSWORD)
    entry = AuditEntry.objects.get(event=AuditEntry.Event.USER_CREATED, subject="ines")
    assert entry.acting_user == camille
    assert NEW_PASSWORD not in str(entry.changes)


def test_create_user_reports_every_problem(camille: User, jeanne: User) -> None:
    response = client_for(camille).post(
        "/settings/users/new/",
        {
            "username": "JEANNE",
            "language": "fr",
            "password1": "abc",
            "password2": "abd",
            "email": "not-an-address",
        },
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "L’identifiant JEANNE est déjà pris" in page
    assert "Les deux mots de passe diffèrent" in page
    assert "Saisissez une adresse de courriel valide" in page
    assert User.objects.count() == 2


def test_weak_password_is_refused(camille: User) -> None:
    response = client_for(camille).post(
        "/settings/users/new/",
        {"username": "hugo", "language": "fr", "password1": "12345678", "password2": "12345678"},
    )
    assert "Ce mot de passe est entièrement numérique" in response.content.decode()
    assert not User.objects.filter(username="hugo").exists()


def test_edit_with_blank_password_keeps_it_and_the_user(camille: User, jeanne: User) -> None:
    response = client_for(camille).post(
        f"/settings/users/{jeanne.pk}/",
        {
            "username": "jeanne",
            "first_name": "Jeanne",
            "last_name": "Durand-Petit",
            "language": "en",
            "is_active": "on",
            "password1": "",
            "password2": "",
        },
    )
    assert response.status_code == 302
    jeanne.refresh_from_db()
    assert jeanne.last_name == "Durand-Petit"
    assert jeanne.check_password(PASSWORD)
    entry = AuditEntry.objects.get(event=AuditEntry.Event.USER_CHANGED, subject="jeanne")
    assert entry.changes == {
        "last_name": ["Durand", "Durand-Petit"],
        "language": ["fr", "en"],
    }
    assert not AuditEntry.objects.filter(event=AuditEntry.Event.PASSWORD_CHANGED).exists()


def test_edit_can_set_a_new_password(camille: User, jeanne: User) -> None:
    client_for(camille).post(
        f"/settings/users/{jeanne.pk}/",
        {
            "username": "jeanne",
            "language": "fr",
            "is_active": "on",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
        },
    )
    jeanne.refresh_from_db()
    assert jeanne.check_password(NEW_PASSWORD)
    assert AuditEntry.objects.filter(
        event=AuditEntry.Event.PASSWORD_CHANGED, subject="jeanne", acting_user=camille
    ).exists()


def test_last_administrator_cannot_be_demoted_or_deleted(camille: User, jeanne: User) -> None:
    client = client_for(camille)
    response = client.post(
        f"/settings/users/{camille.pk}/",
        {"username": "camille", "language": "fr", "is_active": "on"},
    )
    assert "dernier administrateur actif" in response.content.decode()
    camille.refresh_from_db()
    assert camille.is_administrator
    with pytest.raises(actions.LastAdministratorError):
        actions.do_delete_user(acting_user=None, user=camille)
    assert User.objects.filter(pk=camille.pk).exists()


def test_administrator_cannot_delete_themself(camille: User, jeanne: User) -> None:
    actions.do_update_user(acting_user=None, user=jeanne, is_superuser=True)
    response = client_for(camille).post(f"/settings/users/{camille.pk}/delete/")
    assert response.status_code == 409
    assert User.objects.filter(pk=camille.pk).exists()


def test_delete_asks_then_deletes(camille: User, jeanne: User) -> None:
    client = client_for(camille)
    confirm = client.get(f"/settings/users/{jeanne.pk}/delete/")
    assert "Supprimer l’utilisateur Jeanne Durand (jeanne)" in confirm.content.decode()
    assert User.objects.filter(pk=jeanne.pk).exists()
    assert client.post(f"/settings/users/{jeanne.pk}/delete/").status_code == 302
    assert not User.objects.filter(pk=jeanne.pk).exists()
    entry = AuditEntry.objects.get(event=AuditEntry.Event.USER_DELETED)
    assert (entry.subject, entry.acting_user) == ("jeanne", camille)


def test_user_list_shows_everyone(camille: User, jeanne: User, oliver: User) -> None:
    page = client_for(camille).get("/settings/users/").content.decode()
    for username in ("camille", "jeanne", "oliver"):
        assert f'data-user="{username}"' in page


def test_unknown_user_is_404(camille: User) -> None:
    assert client_for(camille).get("/settings/users/999999/").status_code == 404
