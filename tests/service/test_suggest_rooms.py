"""The service's "suggest rooms" (Others): the chat offers the rooms instead of joining them
silently, and remembers each user's answer (messaging:room_choice)."""

from __future__ import annotations

from pathlib import Path

from evim.backoffice.models import AuditEntry, User
from evim.messaging import actions
from evim.messaging.models import RoomChoice
from evim.service.actions import do_change_service_settings
from tests.fixtures.users import client_for
from tests.messaging.test_chat import home_chat_config

CHOICE = "/messaging/room-choice/"
ROOM = "lilas@conference.evim.test"  # messaging_enabled's project.yml


def test_rooms_are_offered_and_answers_remembered(
    camille: User, jeanne: User, ines: User, messaging_enabled: Path
) -> None:
    for user in (camille, jeanne):
        actions.do_create_account(
            acting_user=None, user=user, jid=f"{user.username}@evim.test", password="pw-1"
        )
    do_change_service_settings(
        acting_user=camille,
        values={"suggest_rooms": True, "rooms_to_join": ["atelier@conference.evim.test"]},
    )
    config = home_chat_config(jeanne)
    assert config["rooms"] == []  # nothing joined without her answer
    assert config["suggested_rooms"] == [ROOM, "atelier@conference.evim.test"]
    assert config["csrf_token"] and config["room_choice_url"] == CHOICE

    client = client_for(jeanne)
    assert client.post(CHOICE, {"room": ROOM, "joined": "1"}).json() == {
        "room": ROOM,
        "joined": True,
    }
    skipped = client.post(CHOICE, {"room": "atelier@conference.evim.test", "joined": "0"})
    assert skipped.status_code == 200
    config = home_chat_config(jeanne)
    assert config["rooms"] == [ROOM]
    assert config["suggested_rooms"] == []
    entry = AuditEntry.objects.filter(event="room_chosen").first()
    assert entry is not None and entry.acting_user == jeanne
    # camille answered nothing: everything is still offered to her.
    assert home_chat_config(camille)["suggested_rooms"] == [ROOM, "atelier@conference.evim.test"]

    # Off: every room is joined silently again, answers or not.
    do_change_service_settings(acting_user=camille, values={"suggest_rooms": False})
    config = home_chat_config(jeanne)
    assert config["rooms"] == [ROOM, "atelier@conference.evim.test"]
    assert config["suggested_rooms"] == []


def test_bad_answers_are_refused(jeanne: User, ines: User, messaging_enabled: Path) -> None:
    actions.do_create_account(acting_user=None, user=jeanne, jid="jeanne@evim.test", password="p")
    client = client_for(jeanne)
    refused = client.post(CHOICE, {"room": "pirates@conference.evim.test", "joined": "1"})
    assert refused.status_code == 400
    assert "recharge" in refused.json()["error"]
    assert client.post(CHOICE, {"room": ROOM, "joined": "maybe"}).status_code == 400
    assert client.get(CHOICE).status_code == 405
    assert client_for(ines).post(CHOICE, {"room": ROOM, "joined": "1"}).status_code == 403
    assert not RoomChoice.objects.exists()
