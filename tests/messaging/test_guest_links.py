"""Guest links (the service's anonymous mode), through Django's test client: who makes them,
which rooms they may open, what the guest's page asks and gives, revocation and expiry,
and what a guest's stream may send (the gateway's policy, on raw frames)."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone
from pytest_django.fixtures import Settings as SettingsWrapper

from evim.backoffice.models import AuditEntry, User
from evim.gateway.framing import parse_client_frame
from evim.gateway.guests import GuestAccess, GuestPolicy, guest_for_handshake
from evim.gateway.owners import Refusal, verdicts_for
from evim.gateway.relay import StreamEnded, StreamOwner
from evim.messaging import guests
from evim.messaging.models import GuestLink, GuestToken
from evim.service.actions import do_change_service_settings
from tests.fixtures.users import client_for

ROOM = "clients@conference.evim.test"
LINKS = "/messaging/guest-links/"


@pytest.fixture
def anonymous_mode(
    messaging_enabled: Path, settings: SettingsWrapper, camille: User
) -> SettingsWrapper:
    settings.EVIM_XMPP_SERVER = "managed"
    settings.EVIM_XMPP_DOMAIN = "evim.test"
    settings.EVIM_XMPP_MUC_HOST = "conference.evim.test"
    do_change_service_settings(acting_user=camille, values={"anonymous_mode": True})
    return settings


def make_link(camille: User, **form: str) -> str:
    """The new link's path, as the page shows it once."""
    page = client_for(camille).post(LINKS, {"room": ROOM, "days": "7", **form})
    assert page.status_code == 200
    match = re.search(r'data-guest-link="http://testserver(/guest/[^"]+/)"', page.content.decode())
    assert match, page.content.decode()
    return match.group(1)


def guest_enters(path: str, nickname: str = "Marie Curie") -> Client:
    guest = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert guest.post(path, {"nickname": nickname}).status_code == 302
    return guest


def test_off_by_default_and_then_nothing_is_there(
    messaging_enabled: Path, camille: User, settings: SettingsWrapper
) -> None:
    settings.EVIM_XMPP_SERVER = "managed"
    assert guests.anonymous_mode_available() is False
    assert client_for(camille).get(LINKS).status_code == 404
    assert 'data-menu="guest-links"' not in client_for(camille).get("/").content.decode()
    link = guests.do_create_guest_link(acting_user=camille, room="a@conference.localhost", days=1)
    assert Client().get(f"/guest/{link.token}/").status_code == 404
    assert Client().get(f"/guest/{link.token}/credentials").status_code == 404
    refusal = guest_for_handshake("some-session", link.link.pk)
    assert isinstance(refusal, Refusal) and refusal.status == 404


def test_administrators_make_links_shown_once_and_audited(
    anonymous_mode: SettingsWrapper, camille: User, jeanne: User
) -> None:
    assert client_for(jeanne).get(LINKS).status_code == 403
    assert client_for(jeanne).post(LINKS, {"room": ROOM, "days": "7"}).status_code == 403
    assert 'data-menu="guest-links"' in client_for(camille).get("/").content.decode()

    path = make_link(camille, note="Régie de la compagnie")
    token = path.split("/")[2]
    link = GuestLink.objects.get()
    assert (link.room, link.note, link.created_by) == (ROOM, "Régie de la compagnie", camille)
    assert token not in link.token_hash and len(link.token_hash) == 64
    assert timedelta(days=6) < link.expires - timezone.now() <= timedelta(days=7)
    entry = AuditEntry.objects.get(event="guest_link_created")
    assert entry.acting_user == camille and entry.subject == ROOM
    assert token not in json.dumps(entry.changes)
    # The list shows it, valid, without its address.
    listing = client_for(camille).get(LINKS).content.decode()
    assert f'data-guest-link-id="{link.pk}" data-state="valid"' in listing
    assert token not in listing


@pytest.mark.parametrize(
    ("room", "message"),
    [
        ("lilas@conference.evim.test", "est le salon des collègues"),
        ("clients@conference.elsewhere.example", "est sur un autre"),
        ("not a room", "pas une adresse de salon"),
    ],
)
def test_rooms_guests_cannot_be_sent_to(
    anonymous_mode: SettingsWrapper, camille: User, room: str, message: str
) -> None:
    page = client_for(camille).post(LINKS, {"room": room, "days": "7"}).content.decode()
    assert message in page
    assert not GuestLink.objects.exists()
    for days in ("0", "91"):
        client_for(camille).post(LINKS, {"room": ROOM, "days": days})
    assert not GuestLink.objects.exists()


def test_the_guest_chooses_a_nickname_then_gets_the_chat_of_that_room(
    anonymous_mode: SettingsWrapper, camille: User
) -> None:
    path = make_link(camille)
    guest = Client(HTTP_ACCEPT_LANGUAGE="en")
    form = guest.get(path).content.decode()
    assert 'name="nickname"' in form and "evim-guest-config" not in form
    assert guest.get(f"{path}credentials").status_code == 403  # no nickname yet
    for bad, why in [
        ("M", "of 2 to 40 characters"),
        ("x" * 41, "of 2 to 40 characters"),
        ("Marie\u202eCurie", "letters, digits, spaces and punctuation only"),
        ("Marie\x07", "letters, digits, spaces and punctuation only"),
        ("camille martin", "belongs to someone of the staff"),
    ]:
        answer = guest.post(path, {"nickname": bad})
        assert answer.status_code == 200 and why in answer.content.decode(), bad
    assert guest.post(path, {"nickname": "  Marie   Curie "}).status_code == 302
    page = guest.get(path).content.decode()
    config = _config(page)
    link = GuestLink.objects.get()
    assert config["room"] == ROOM and config["nickname"] == "Marie Curie"
    assert config["websocket_path"] == f"/im/guest-ws?link={link.pk}"
    assert config["language"] == "en"
    credentials = guest.get(config["credentials_url"]).json()
    assert credentials["jid"].startswith("guest@guest.evim.test/evim-guest-")
    assert credentials["password"].startswith("evim-guest:")
    # The token works once, for this link and this browser session only.
    session_key = guest.session.session_key
    assert session_key
    other = guests.issue_guest_token(link=link, session_key=session_key)
    assert not guests.redeem_guest_token(other, link_id=link.pk, session_key="another")
    assert not guests.redeem_guest_token(other, link_id=link.pk, session_key=session_key)
    assert guests.redeem_guest_token(
        credentials["password"], link_id=link.pk, session_key=session_key
    )
    assert not guests.redeem_guest_token(
        credentials["password"], link_id=link.pk, session_key=session_key
    )
    # The gateway's handshake finds this guest, with the nickname and language chosen.
    found = guest_for_handshake(session_key, link.pk)
    assert isinstance(found, GuestAccess)
    assert (found.room, found.nickname, found.host) == (ROOM, "Marie Curie", "guest.evim.test")
    assert found.owner.language == "en" and found.owner.guest_link == link.pk
    refused = guest_for_handshake("a-stranger's-session", link.pk)
    assert isinstance(refused, Refusal) and refused.status == 403


def test_the_guest_page_speaks_the_browser_s_french(
    anonymous_mode: SettingsWrapper, camille: User
) -> None:
    """(Needs the French translations of evim_fr_anonymous_mode.json, merged by the lead.)"""
    path = make_link(camille)
    page = Client(HTTP_ACCEPT_LANGUAGE="fr-FR,fr").get(path).content.decode()
    assert "Votre nom dans le salon" in page and "Entrer dans le salon" in page


def _config(page: str) -> dict[str, str]:
    match = re.search(r'id="evim-guest-config" type="application/json">(.*?)</script>', page, re.S)
    assert match, page
    config: dict[str, str] = json.loads(match.group(1))
    return config


def test_revoked_expired_and_unknown_links_say_so(
    anonymous_mode: SettingsWrapper, camille: User
) -> None:
    path = make_link(camille)
    guest = guest_enters(path)
    link = GuestLink.objects.get()
    guest.get(f"{path}credentials")
    assert GuestToken.objects.count() == 1
    owner = StreamOwner(
        0, guest.session.session_key or "", "guest@guest.evim.test", guest_link=link.pk
    )
    assert verdicts_for([owner]) == {owner: None}

    revoke = client_for(camille).post(f"{LINKS}{link.pk}/revoke/", follow=True)
    assert "les discussions de ses invités prennent fin maintenant" in revoke.content.decode()
    assert AuditEntry.objects.filter(event="guest_link_revoked", subject=ROOM).count() == 1
    assert not GuestToken.objects.exists()
    page = guest.get(path)
    assert page.status_code == 410
    assert "This guest link has been withdrawn." in page.content.decode()
    assert "Ask the person who sent it to you for a new link." in page.content.decode()
    assert guest.get(f"{path}credentials").status_code == 403
    assert verdicts_for([owner]) == {owner: "the guest link expired or was revoked"}

    expired = guests.do_create_guest_link(acting_user=camille, room=ROOM, days=1)
    GuestLink.objects.filter(pk=expired.link.pk).update(expires=timezone.now())
    page = Client().get(f"/guest/{expired.token}/")
    assert page.status_code == 410 and "Ce lien invité a expiré." in page.content.decode()
    unknown = Client().get("/guest/" + "A" * 43 + "/")
    assert unknown.status_code == 410 and "existe pas" in unknown.content.decode()


def test_turning_anonymous_mode_off_closes_everything(
    anonymous_mode: SettingsWrapper, camille: User
) -> None:
    path = make_link(camille)
    guest = guest_enters(path)
    link = GuestLink.objects.get()
    owner = StreamOwner(
        0, guest.session.session_key or "", "guest@guest.evim.test", guest_link=link.pk
    )
    do_change_service_settings(acting_user=camille, values={"anonymous_mode": False})
    assert guest.get(path).status_code == 404
    assert guest.get(f"{path}credentials").status_code == 404
    assert verdicts_for([owner]) == {owner: "anonymous mode is off"}


# --- the gateway's policy for a guest's stream, on raw frames ---------------------------------


def policy() -> GuestPolicy:
    owner = StreamOwner(0, "session", "guest@guest.evim.test", guest_link=1)
    access = GuestAccess(owner=owner, room=ROOM, nickname="Marie Curie", host="guest.evim.test")
    guest_policy = GuestPolicy(access, membership=None)
    guest_policy.own = "4f2c@guest.evim.test"
    return guest_policy


def screen(text: str) -> str | None:
    return policy().screen(parse_client_frame(text))


C = "xmlns='jabber:client'"


@pytest.mark.parametrize(
    "frame",
    [
        f"<message {C} to='{ROOM}' type='groupchat' id='1'><body>Bonjour</body></message>",
        f"<message {C} to='{ROOM}/Camille Martin' type='chat' id='2'><body>Hi</body></message>",
        f"<presence {C} to='{ROOM}/Marie Curie'><x xmlns='http://jabber.org/protocol/muc'/></presence>",
        f"<presence {C} to='{ROOM}/Marie Curie' type='unavailable'/>",
        f"<iq {C} type='get' id='3' to='{ROOM}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
        f"<iq {C} type='get' id='4' to='guest.evim.test'><ping xmlns='urn:xmpp:ping'/></iq>",
        f"<iq {C} type='set' id='5'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>",
        f"<iq {C} type='get' id='6' to='4f2c@guest.evim.test'><vCard xmlns='vcard-temp'/></iq>",
        f"<presence {C}/>",
        "<r xmlns='urn:xmpp:sm:3'/>",
        "<inactive xmlns='urn:xmpp:csi:0'/>",
    ],
)
def test_what_a_guest_may_send(frame: str) -> None:
    assert screen(frame) is None


@pytest.mark.parametrize(
    ("frame", "kind"),
    [
        (
            f"<message {C} to='camille@evim.test' type='chat' id='m'><body>Hi</body></message>",
            "message",
        ),
        (f"<presence {C} to='camille@evim.test' type='subscribe' id='p'/>", "presence"),
        (f"<iq {C} type='get' id='i' to='evim.test'><query xmlns='jabber:iq:version'/></iq>", "iq"),
        (f"<presence {C} to='other@conference.evim.test/Marie Curie'/>", "presence"),
        (f"<presence {C} to='{ROOM}/Camille Martin'/>", "presence"),
        (f"<presence {C} to='newroom@conference.evim.test/Marie'/>", "presence"),
        (
            f"<message {C} to='{ROOM}' id='inv'><x xmlns='http://jabber.org/protocol/muc#user'>"
            "<invite to='friend@evim.test'/></x></message>",
            "message",
        ),
        (f"<message {C} type='chat' id='self'><body>no to</body></message>", "message"),
        (
            f"<iq {C} type='get' id='d' to='conference.evim.test'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>",
            "iq",
        ),
    ],
)
def test_what_a_guest_may_not_send_gets_an_error_back(frame: str, kind: str) -> None:
    answer = screen(frame)
    assert answer is not None and answer.startswith(f"<{kind} xmlns='jabber:client' type='error'")
    assert "<not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>" in answer
    parsed = parse_client_frame(answer)  # well-formed, addressed from where it was sent
    assert parsed.attributes.get("from") == parse_client_frame(frame).attributes.get("to")


def test_refused_errors_and_results_are_dropped_and_other_elements_end_the_stream() -> None:
    assert screen(f"<iq {C} type='result' id='x' to='camille@evim.test'/>") == ""
    assert screen(f"<message {C} type='error' to='camille@evim.test'/>") == ""
    with pytest.raises(StreamEnded) as ended:
        screen("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AA==</auth>")
    assert ended.value.condition == "unsupported-stanza-type"
