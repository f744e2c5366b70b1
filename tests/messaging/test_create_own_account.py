"""Registration allowed: a user without a Jabber account creates their own from their
profile (“Create my chat account”), on the session's managed Prosody."""

from __future__ import annotations

import asyncio

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper

from evim.backoffice.models import AuditEntry, User
from evim.managed_server import provisioning
from evim.messaging import encryption
from evim.messaging.chat import has_chat
from evim.messaging.models import AccountEvent, JabberAccount
from evim.service import current
from evim.service.models import StoredOption
from tests.fixtures.prosody import RunningProsody
from tests.fixtures.users import client_for
from tests.managed_server.xmpp_client import can_log_in

PROFILE = "/profile/"
CREATE = "/messaging/my-account/create/"
OFFER = 'data-action="create-my-account"'


def allow_registration() -> None:
    # Stored directly: no service_settings_changed, so the session's Prosody stays as it is
    # (evim creates the account through the admin socket, not by in-band registration).
    StoredOption.objects.create(name="registration_allowed", value=True)
    current.forget()


def test_no_offer_while_registration_is_off(on_managed_prosody: RunningProsody, ines: User) -> None:
    client = client_for(ines)
    page = client.get(PROFILE).content.decode()
    assert OFFER not in page
    assert "Demandez un compte à un administrateur." in page
    assert client.post(CREATE).status_code == 403
    assert not JabberAccount.objects.filter(user=ines).exists()


def test_a_user_creates_their_chat_account(on_managed_prosody: RunningProsody, ines: User) -> None:
    allow_registration()
    client = client_for(ines)
    page = client.get(PROFILE).content.decode()
    assert OFFER in page
    assert "Demandez un compte" not in page  # not told to ask an administrator as well

    response = client.post(CREATE, follow=True)
    assert response.redirect_chain[-1][0] == PROFILE
    account = JabberAccount.objects.get(user=ines)
    try:
        assert account.kind == JabberAccount.Kind.MANAGED
        assert account.jid.startswith("ines") and account.jid.endswith("@evim.test")
        password = encryption.decrypt_password(account.password_encrypted)
        assert password not in account.password_encrypted
        assert password not in response.content.decode()
        assert account.jid in response.content.decode()
        entry = AuditEntry.objects.get(event=AccountEvent.ACCOUNT_PROVISIONED.value)
        assert entry.acting_user == ines and entry.subject == "ines"
        assert password not in str(entry.changes)
        # The account works on the server, and the chat is there for her now.
        assert asyncio.run(can_log_in(on_managed_prosody.layout, account.jid, password))
        assert has_chat(ines)
        page = client.get(PROFILE).content.decode()
        assert OFFER not in page
        assert account.jid in page
        assert client.post(CREATE).status_code == 403  # one account is enough
    finally:
        asyncio.run(
            provisioning.delete_account(on_managed_prosody.layout, localpart=account.localpart)
        )


def test_users_with_an_account_get_no_offer(on_managed_prosody: RunningProsody, ines: User) -> None:
    allow_registration()
    JabberAccount.objects.create(
        user=ines,
        jid="ines@elsewhere.example",
        password_encrypted=encryption.encrypt_password("their-own-password"),
        kind=JabberAccount.Kind.EXTERNAL,
    )
    assert OFFER not in client_for(ines).get(PROFILE).content.decode()
    assert client_for(ines).post(CREATE).status_code == 403


@pytest.mark.usefixtures("messaging_enabled")
def test_an_external_server_offers_nothing(settings: SettingsWrapper, ines: User) -> None:
    settings.EVIM_XMPP_SERVER = "external"
    allow_registration()  # stored by hand: the page keeps it off for an external server
    assert current.service().registration_allowed is False
    client = client_for(ines)
    assert OFFER not in client.get(PROFILE).content.decode()
    assert client.post(CREATE).status_code == 403
