"""The service's "lock host" (Connection): only accounts of the main host are mapped and
used by the chat; turned on from the settings page, it takes effect at once."""

from __future__ import annotations

from pathlib import Path

from pytest_django.fixtures import Settings as SettingsWrapper

from evim.backoffice.models import User
from evim.gateway.owners import owner_for_session, verdicts_for
from evim.gateway.relay import StreamOwner
from evim.messaging import actions
from evim.messaging.models import JabberAccount
from evim.service.actions import do_change_service_settings
from tests.fixtures.users import client_for


def lock(camille: User, on: bool) -> None:
    do_change_service_settings(acting_user=camille, values={"lock_host": on})


def test_lock_host_refuses_other_servers_and_their_chats(
    camille: User, jeanne: User, ines: User, messaging_enabled: Path, settings: SettingsWrapper
) -> None:
    settings.EVIM_XMPP_DOMAIN = "lilas.example"
    assert settings.EVIM_XMPP_LOCK_HOST is False  # the default follows it: off
    # Before: jeanne's account is on another server, camille's on the main host.
    actions.do_create_account(
        acting_user=camille, user=jeanne, jid="jeanne@gmail.example", password="pw-1"
    )
    actions.do_create_account(
        acting_user=camille, user=camille, jid="camille@lilas.example", password="pw-2"
    )
    jeanne_client = client_for(jeanne)
    assert 'id="evim-chat-config"' in jeanne_client.get("/").content.decode()
    assert jeanne_client.get("/im/credentials").status_code == 200
    session_key = jeanne_client.session.session_key
    owner = owner_for_session(session_key)
    assert isinstance(owner, StreamOwner)

    lock(camille, True)
    # Mapping an account of another server is refused, with the reason.
    refused = client_for(camille).post(
        "/messaging/accounts/new/", {"user": ines.pk, "jid": "ines@gmail.example", "password": "p"}
    )
    assert "Seules les adresses de lilas.example sont acceptées" in refused.content.decode()
    assert not JabberAccount.objects.filter(user=ines).exists()
    # jeanne's chat goes: no chat on her pages, no token, and her open stream is ended.
    assert 'id="evim-chat-config"' not in jeanne_client.get("/").content.decode()
    assert jeanne_client.get("/im/credentials").status_code == 404
    assert not isinstance(owner_for_session(session_key), StreamOwner)
    assert verdicts_for([owner])[owner] == "lock host: an account of another server"
    # camille's account is on the main host: her chat stays.
    assert 'id="evim-chat-config"' in client_for(camille).get("/").content.decode()
    # The messaging page says it is on.
    page = client_for(camille).get("/messaging/settings/").content.decode()
    assert "Oui : seulement les adresses de lilas.example" in page

    lock(camille, False)
    assert jeanne_client.get("/im/credentials").status_code == 200
    assert verdicts_for([owner])[owner] is None
