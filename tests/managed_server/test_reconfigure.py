"""The running managed Prosody follows the service settings, without a restart.

Each change goes through :func:`do_change_service_settings` (what the settings page calls)
and its commit; real XMPP clients (slixmpp) then look at the running server: service
discovery (the publish-subscribe and directory components), XEP-0215 external services
(STUN), XEP-0077 in-band registration, XEP-0055 search.  The module runs a Prosody of its
own (it changes its configuration) and checks that it is never restarted.
"""

from __future__ import annotations

import asyncio
import os
import signal
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import slixmpp
from pytest_django.fixtures import DjangoCaptureOnCommitCallbacks
from pytest_django.fixtures import Settings as SettingsWrapper
from slixmpp import JID
from slixmpp.exceptions import IqError
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatcherId

from evim.managed_server import provisioning
from evim.managed_server.config import render_config
from evim.managed_server.layout import ServerLayout
from evim.managed_server.reconfigure import (
    apply_current_settings,
    apply_layout,
    on_service_settings_changed,
    service_settings_source,
)
from evim.managed_server.supervisor import ProsodySupervisor
from evim.service.actions import do_change_service_settings
from evim.service.models import StoredOption
from tests.fixtures.prosody import RunningProsody, make_layout, running_prosody
from tests.managed_server.xmpp_client import TIMEOUT, Client, logged_in

STANZA_ERRORS_NS = "urn:ietf:params:xml:ns:xmpp-stanzas"
PASSWORD = "a-long-enough-password-1"


@pytest.fixture(scope="module")
def prosody(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProsody]:
    layout = make_layout(tmp_path_factory.mktemp("reconfigure") / "prosody")
    with running_prosody(layout, name="reconfigure-prosody") as running:
        running.register("bob", PASSWORD)
        yield running


@pytest.fixture
def server(
    prosody: RunningProsody, settings: SettingsWrapper, db: None
) -> Iterator[RunningProsody]:
    """evim's settings pointing at this module's Prosody; checks it is never restarted."""
    layout = prosody.layout
    settings.EVIM_XMPP_SERVER = "managed"
    settings.EVIM_DATA_DIR = layout.directory.parent
    settings.EVIM_XMPP_DOMAIN = layout.domain
    settings.EVIM_XMPP_MUC_HOST = layout.muc_host
    settings.EVIM_XMPP_HOST = layout.c2s_host
    settings.EVIM_XMPP_C2S_PORT = layout.c2s_port
    settings.EVIM_XMPP_HTTP_PORT = layout.http_port
    pid = prosody.supervisor.pid
    yield prosody
    assert prosody.supervisor.pid == pid, "Prosody was restarted"
    assert prosody.supervisor.restart_count == 0


Change = Callable[..., None]


@pytest.fixture
def change(server: RunningProsody, django_capture_on_commit_callbacks: Any) -> Change:
    """``change(option=value, …)``: saved as the settings page saves, and committed."""

    def save(**values: Any) -> None:
        capture: DjangoCaptureOnCommitCallbacks = django_capture_on_commit_callbacks
        with capture(execute=True):
            assert do_change_service_settings(acting_user=None, values=values)

    return save


# --- what clients see ---------------------------------------------------------------------------


async def disco_items(client: Client, jid: str) -> set[str]:
    reply: Any = await client.plugin["xep_0030"].get_items(jid=JID(jid), timeout=TIMEOUT)
    return {str(item[0]) for item in reply["disco_items"]["items"]}


async def stun_services(client: Client, domain: str) -> list[tuple[str, str, str]]:
    """XEP-0215: the STUN services the server announces, as (host, port, transport)."""
    namespace = "urn:xmpp:extdisco:2"
    query: Any = client.make_iq_get(ito=domain)
    query.xml.append(ET.Element(f"{{{namespace}}}services"))
    try:
        reply: Any = await query.send(timeout=TIMEOUT)
    except IqError as error:
        assert error.condition == "service-unavailable"  # no mod_external_services
        return []
    return [
        (service.get("host", ""), service.get("port", ""), service.get("transport", ""))
        for service in reply.xml.iter(f"{{{namespace}}}service")
        if service.get("type") == "stun"
    ]


async def search(client: Client, directory: str, text: str) -> list[str]:
    """XEP-0055: the JIDs found for ``text`` in the name field."""
    namespace = "jabber:iq:search"
    query: Any = client.make_iq_set(ito=directory)
    element = ET.Element(f"{{{namespace}}}query")
    ET.SubElement(element, f"{{{namespace}}}nick").text = text
    query.xml.append(element)
    reply: Any = await query.send(timeout=TIMEOUT)
    return [item.get("jid", "") for item in reply.xml.iter(f"{{{namespace}}}item")]


class Registrant(slixmpp.ClientXMPP):
    """Creates ``jid`` by in-band registration (XEP-0077) if the server offers it."""

    def __init__(self, jid: str, password: str, layout: ServerLayout) -> None:
        super().__init__(jid, password)
        self.enable_direct_tls = False
        self.ca_certs = layout.certificate_path
        self.register_plugin("xep_0077")
        #: "registered", the server's error condition, or "not-offered".
        self.outcome: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.add_event_handler("register", self._register)
        self.add_event_handler("failed_all_auth", self._not_offered)
        self.add_event_handler("session_start", self._done)
        self.add_event_handler("disconnected", self._done)

    async def _register(self, _form: object) -> None:
        iq: Any = self.make_iq_set()
        iq["register"]["username"] = self.boundjid.user
        iq["register"]["password"] = self.password
        # Read the answer from the XML: slixmpp's IqError rejects conditions it does not
        # know, such as the throttle's policy-violation.
        answered: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.register_handler(
            Callback("registration-answer", MatcherId(iq["id"]), answered_with(answered), once=True)
        )
        self.send_raw(str(iq))
        self._settle(await answered)

    def _settle(self, outcome: str) -> None:
        if not self.outcome.done():
            self.outcome.set_result(outcome)

    def _not_offered(self, _event: object) -> None:
        self._settle("not-offered")

    def _done(self, _event: object) -> None:
        self._settle("not-offered")


def answered_with(answered: asyncio.Future[str]) -> Callable[[Any], None]:
    def answer(stanza: Any) -> None:
        if answered.done():
            return
        if stanza["type"] == "result":
            answered.set_result("registered")
            return
        error = stanza.xml.find("{jabber:client}error")
        conditions = (
            []
            if error is None
            else [
                child.tag.rpartition("}")[2]
                for child in error
                if child.tag.startswith(f"{{{STANZA_ERRORS_NS}}}")
                and not child.tag.endswith("}text")
            ]
        )
        answered.set_result(conditions[0] if conditions else "error")

    return answer


async def register(layout: ServerLayout, localpart: str) -> str:
    client = Registrant(f"{localpart}@{layout.domain}", PASSWORD, layout)
    client.connect(layout.c2s_host, layout.c2s_port)
    try:
        return await asyncio.wait_for(client.outcome, TIMEOUT)
    finally:
        await asyncio.wait_for(client.disconnect(wait=1.0), TIMEOUT)


def as_bob(server: RunningProsody, scenario: Callable[[Client], Any]) -> Any:
    async def run() -> Any:
        async with logged_in(server.layout, server.jid("bob"), PASSWORD) as client:
            return await scenario(client)

    return asyncio.run(run())


# --- the tests ------------------------------------------------------------------------------------


def test_pubsub_host_change_shows_in_service_discovery(
    server: RunningProsody, change: Change
) -> None:
    domain = server.domain
    change(pubsub_host=f"feeds.{domain}")
    items = as_bob(server, lambda client: disco_items(client, domain))
    assert f"feeds.{domain}" in items
    assert f"pubsub.{domain}" not in items
    assert server.muc_host in items

    async def feeds_identity(client: Client) -> list[tuple[str, str]]:
        info: Any = await client.plugin["xep_0030"].get_info(jid=JID(f"feeds.{domain}"))
        return [(category, kind) for category, kind, *_ in info["disco_info"]["identities"]]

    assert ("pubsub", "service") in as_bob(server, feeds_identity)

    change(pubsub_host="")
    items = as_bob(server, lambda client: disco_items(client, domain))
    assert not any("feeds" in item or "pubsub" in item for item in items)
    change(pubsub_host=f"pubsub.{domain}")  # the default again: nothing stored
    assert not StoredOption.objects.filter(name="pubsub_host").exists()
    assert f"pubsub.{domain}" in as_bob(server, lambda client: disco_items(client, domain))


def test_stun_servers_are_published_with_xep_0215(server: RunningProsody, change: Change) -> None:
    change(stun_servers=["stun.example.org:3478", "[2001:db8::1]:3479"])
    services = as_bob(server, lambda client: stun_services(client, server.domain))
    assert services == [("stun.example.org", "3478", "udp"), ("2001:db8::1", "3479", "udp")]
    change(stun_servers=["turn.example.net:5349"])
    services = as_bob(server, lambda client: stun_services(client, server.domain))
    assert services == [("turn.example.net", "5349", "udp")]
    change(stun_servers=[])
    assert as_bob(server, lambda client: stun_services(client, server.domain)) == []


def test_in_band_registration_follows_the_switch(server: RunningProsody, change: Change) -> None:
    layout = server.layout
    assert asyncio.run(register(layout, "early")) == "not-offered"
    change(registration_allowed=True)
    assert asyncio.run(register(layout, "newcomer")) == "registered"
    assert asyncio.run(register(layout, "admin")) == "not-allowed"  # a reserved name
    assert asyncio.run(register(layout, "second")) == "registered"
    # Three attempts an hour from one address: the fourth is refused.
    assert asyncio.run(register(layout, "third")) == "policy-violation"

    async def can_log_in() -> bool:
        async with logged_in(layout, server.jid("newcomer"), PASSWORD):
            return True

    assert asyncio.run(can_log_in())
    change(registration_allowed=False)
    assert asyncio.run(register(layout, "late")) == "not-offered"
    assert asyncio.run(provisioning.existing_accounts(layout)) >= {"newcomer", "second"}
    assert not {"early", "admin", "third", "late"} & asyncio.run(
        provisioning.existing_accounts(layout)
    )


def test_the_directory_finds_colleagues_by_name(server: RunningProsody, change: Change) -> None:
    layout = server.layout
    asyncio.run(
        provisioning.create_accounts(
            layout,
            [
                provisioning.NewAccount("ines.moreau", PASSWORD, "Inès Moreau"),
                provisioning.NewAccount("paul.morel", PASSWORD, "Paul Morel"),
            ],
        )
    )
    directory = f"directory.{server.domain}"
    change(directory_host=f"people.{server.domain}")
    change(directory_host=directory)  # back to the default

    async def searches(client: Client) -> dict[str, list[str]]:
        return {
            text: sorted(await search(client, directory, text))
            for text in ("Moreau", "INÈS", "inès mor", "mor", "paul", "nobody")
        }

    found = as_bob(server, searches)
    ines, paul = server.jid("ines.moreau"), server.jid("paul.morel")
    assert found == {
        "Moreau": [ines],
        "INÈS": [ines],
        "inès mor": [ines],
        "mor": [ines, paul],
        "paul": [paul],
        "nobody": [],
    }
    change(directory_host="")
    assert directory not in as_bob(server, lambda client: disco_items(client, server.domain))


def test_unrelated_changes_and_external_servers_leave_the_server_alone(
    server: RunningProsody, change: Change, settings: SettingsWrapper
) -> None:
    config = server.layout.config_path
    config.write_text(config.read_text() + "-- untouched\n")
    change(announcement="Maintenance tonight")
    assert config.read_text().endswith("-- untouched\n")
    settings.EVIM_XMPP_SERVER = "external"
    on_service_settings_changed(None, changed=["stun_servers"])
    assert config.read_text().endswith("-- untouched\n")
    settings.EVIM_XMPP_SERVER = "managed"
    on_service_settings_changed(None, changed=["stun_servers"])
    assert not config.read_text().endswith("-- untouched\n")


def test_without_a_running_prosody_the_file_is_written_for_the_next_start(
    tmp_path: Path,
) -> None:
    layout = make_layout(tmp_path / "prosody", stun_servers=("stun.example.org:3478",))
    result = asyncio.run(apply_layout(layout))
    assert not result.applied
    assert result.written
    assert layout.config_path.read_text() == render_config(layout)


@pytest.mark.django_db(transaction=True)
def test_each_start_of_prosody_reads_the_stored_settings(
    tmp_path: Path, settings: SettingsWrapper
) -> None:
    settings.EVIM_XMPP_DOMAIN = "evim.test"
    layout = make_layout(tmp_path / "prosody")
    StoredOption.objects.create(name="stun_servers", value=["stun.example.org:3478"])
    StoredOption.objects.create(name="registration_allowed", value=True)

    async def scenario() -> tuple[str, str]:
        supervisor = ProsodySupervisor(
            layout, layout_source=service_settings_source(layout), restart_delay=0.01
        )
        await supervisor.start()
        try:
            first = layout.config_path.read_text()
            await asyncio.to_thread(StoredOption.objects.filter(name="registration_allowed").delete)
            pid = supervisor.pid
            assert pid is not None
            count = supervisor.restart_count
            os.kill(pid, signal.SIGKILL)  # a crash: the restart reads the settings again
            await supervisor.wait_restarted(after=count, timeout=30)
            return first, layout.config_path.read_text()
        finally:
            await supervisor.stop()

    first, after_restart = asyncio.run(scenario())
    assert 'host = "stun.example.org"' in first
    assert "allow_registration = true" in first
    assert 'host = "stun.example.org"' in after_restart
    assert "allow_registration = true" not in after_restart
    assert "pubsub.evim.test" in first  # the managed defaults


@pytest.mark.django_db(transaction=True)
def test_evim_run_brings_a_prosody_already_running_in_line(
    prosody: RunningProsody, settings: SettingsWrapper
) -> None:
    """What ``evim run`` does when it finds the managed Prosody running (started by ``evim
    xmpp start`` or another evim, maybe before a change): the stored settings applied."""
    settings.EVIM_XMPP_DOMAIN = prosody.domain
    StoredOption.objects.create(name="stun_servers", value=["stun.late.example:3478"])
    try:
        result = asyncio.run(apply_current_settings(prosody.layout))
        assert result is not None and result.applied
        services = as_bob(prosody, lambda client: stun_services(client, prosody.domain))
        assert services == [("stun.late.example", "3478", "udp")]
    finally:
        StoredOption.objects.all().delete()
        asyncio.run(apply_current_settings(prosody.layout))
    assert as_bob(prosody, lambda client: stun_services(client, prosody.domain)) == []
