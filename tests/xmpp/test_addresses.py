"""Server addresses: EVIM_XMPP_ADDRESS_OVERRIDES, SRV resolution (against a local DNS
server), and where evim's settings send a JID."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper

from evim.xmpp.addresses import (
    NoXmppServiceError,
    ServerAddress,
    ServerLocator,
    UnknownDomainError,
    managed_address_from_settings,
    normalise_domain,
    parse_overrides,
    resolve,
)
from tests.fixtures.dns import LocalDnsServer
from tests.xmpp.conftest import closed_port

EXPECTED = "expected domain=host:port or domain=host:port/direct-tls"

# --- ServerAddress, domains -------------------------------------------------------------------


def test_server_address_normalises_and_validates() -> None:
    assert ServerAddress("XMPP.Example.ORG.", 5222) == ServerAddress("xmpp.example.org", 5222)
    assert ServerAddress("[::1]", 5223, direct_tls=True).host == "::1"
    assert str(ServerAddress("::1", 5223, direct_tls=True)) == "[::1]:5223 (direct TLS)"
    assert str(ServerAddress("h.example", 5222)) == "h.example:5222"
    for host, port in (("", 5222), ("a b", 5222), ("a@b", 5222), ("ok", 0), ("ok", 65536)):
        with pytest.raises(ValueError, match="ServerAddress"):
            ServerAddress(host, port)


def test_normalise_domain() -> None:
    assert normalise_domain(" Example.ORG. ") == "example.org"
    assert normalise_domain("Théâtre.example") == "xn--thtre-4qa2c.example"
    assert normalise_domain("xn--thtre-4qa2c.example") == "xn--thtre-4qa2c.example"
    assert normalise_domain("[::1]") == "::1"
    assert normalise_domain("192.0.2.1") == "192.0.2.1"
    for bad in ("", ".", "a..b", "a b", "user@host", "x" * 64 + ".example"):
        with pytest.raises(ValueError, match="not a valid domain"):
            normalise_domain(bad)


# --- EVIM_XMPP_ADDRESS_OVERRIDES ------------------------------------------------------------


def test_parse_overrides_good_forms() -> None:
    assert parse_overrides("") == {}
    assert parse_overrides(" , ") == {}
    assert parse_overrides(
        "Example.ORG=xmpp.example.org:5222, théâtre.example = 192.0.2.7 : 5223 / direct-tls ,"
        "v6.example=[2001:db8::1]:5222,v6tls.example=[::1]:5223/DIRECT-TLS"
    ) == {
        "example.org": ServerAddress("xmpp.example.org", 5222),
        "xn--thtre-4qa2c.example": ServerAddress("192.0.2.7", 5223, direct_tls=True),
        "v6.example": ServerAddress("2001:db8::1", 5222),
        "v6tls.example": ServerAddress("::1", 5223, direct_tls=True),
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x.example=host", "'x.example=host' has no port"),
        ("x.example=host:", "'x.example=host:' has no port"),
        ("x.example", "'x.example' has no '='"),
        ("=host:5222", "'=host:5222' has no domain"),
        ("x.example=:5222", "'x.example=:5222' has no host"),
        ("x.example=host:http", "'x.example=host:http' has an invalid port 'http' (1..65535)"),
        ("x.example=host:0", "'x.example=host:0' has an invalid port '0' (1..65535)"),
        ("x.example=host:70000", "has an invalid port '70000'"),
        ("x.example=host:5222/tls", "has an unknown option 'tls' (only /direct-tls)"),
        ("x.example=host:5222/", "has an unknown option '' (only /direct-tls)"),
        ("a b.example=host:5222", "'a b.example=host:5222' has an invalid domain 'a b.example'"),
        ("x.example=::1:5222", "has an IPv6 address without brackets"),
        ("x.example=[::1:5222", "has an unclosed '['"),
        ("x.example=[::1]5222", "has '5222' after the IPv6 address"),
        ("x.example=[nope]:5222", "has an invalid IPv6 address 'nope'"),
        ("x.example=h@st:5222", "has an invalid host 'h@st'"),
        ("ok.example=h:1, X.example=h:1,x.example=h:2", "the domain 'x.example' is given twice"),
    ],
)
def test_parse_overrides_bad_forms(text: str, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_overrides(text)
    assert str(raised.value).startswith("EVIM_XMPP_ADDRESS_OVERRIDES: ")
    assert message in str(raised.value)
    assert str(raised.value).endswith(EXPECTED)


def test_parse_overrides_message_example() -> None:
    with pytest.raises(ValueError) as raised:
        parse_overrides("good.example=h:5222,x.example=host")
    assert str(raised.value) == (
        "EVIM_XMPP_ADDRESS_OVERRIDES: 'x.example=host' has no port; " + EXPECTED
    )


# --- DNS ------------------------------------------------------------------------------------


def resolve_with(
    dns: LocalDnsServer, domain: str, **overrides: ServerAddress
) -> list[ServerAddress]:
    return asyncio.run(
        resolve(
            domain,
            overrides=overrides,
            resolver_nameservers=[dns.host],
            resolver_port=dns.port,
            lifetime=3,
        )
    )


def test_srv_records_by_priority_then_weight_direct_tls_first(local_dns: LocalDnsServer) -> None:
    assert resolve_with(local_dns, "Example.TEST") == [
        ServerAddress("first.example.test", 5224, direct_tls=True),  # priority 5
        ServerAddress("heavy.example.test", 5225),  # priority 10, weight 50
        ServerAddress("tls.example.test", 5223, direct_tls=True),  # 10, 0, direct TLS
        ServerAddress("starttls.example.test", 5222),  # 10, 0, STARTTLS
        ServerAddress("last.example.test", 5226),  # priority 20
    ]
    assert ("_xmpps-client._tcp.example.test", "SRV") in local_dns.queries
    assert ("_xmpp-client._tcp.example.test", "SRV") in local_dns.queries


def test_no_srv_records_means_the_domain_on_5222(local_dns: LocalDnsServer) -> None:
    assert resolve_with(local_dns, "nosrv.example.test") == [
        ServerAddress("nosrv.example.test", 5222)
    ]


def test_override_wins_over_dns(local_dns: LocalDnsServer) -> None:
    override = ServerAddress("127.0.0.1", 15222, direct_tls=True)
    before = len(local_dns.queries)
    assert resolve_with(local_dns, "EXAMPLE.test.", **{"example.test": override}) == [override]
    assert len(local_dns.queries) == before  # DNS not asked


def test_srv_target_dot_means_no_xmpp_service(local_dns: LocalDnsServer) -> None:
    with pytest.raises(NoXmppServiceError) as raised:
        resolve_with(local_dns, "closed.example.test")
    assert raised.value.domain == "closed.example.test"


def test_nxdomain_is_unknown_domain(local_dns: LocalDnsServer) -> None:
    with pytest.raises(UnknownDomainError) as raised:
        resolve_with(local_dns, "no-such-domain.invalid")
    assert raised.value.domain == "no-such-domain.invalid"
    assert "does not exist" in str(raised.value)
    assert ("no-such-domain.invalid", "A") in local_dns.queries


def test_ip_literal_domain_is_not_looked_up(local_dns: LocalDnsServer) -> None:
    before = len(local_dns.queries)
    assert resolve_with(local_dns, "[::1]") == [ServerAddress("::1", 5222)]
    assert len(local_dns.queries) == before


def test_dns_failure_falls_back_to_the_domain() -> None:
    # A DNS server that does not answer (nothing listens): after the lifetime, the domain.
    addresses = asyncio.run(
        resolve(
            "unreachable-dns.example",
            overrides={},
            resolver_nameservers=["127.0.0.1"],
            resolver_port=closed_port(),
            lifetime=0.5,
        )
    )
    assert addresses == [ServerAddress("unreachable-dns.example", 5222)]


# --- from settings ----------------------------------------------------------------------------


def test_locator_for_the_managed_server(settings: SettingsWrapper, tmp_path: Path) -> None:
    settings.EVIM_XMPP_SERVER = "managed"
    settings.EVIM_XMPP_DOMAIN = "evim.test"
    settings.EVIM_XMPP_HOST = "127.0.0.1"
    settings.EVIM_XMPP_C2S_PORT = 15222
    settings.EVIM_DATA_DIR = tmp_path
    settings.EVIM_XMPP_ADDRESS_OVERRIDES = "other.test=xmpp.other.test:5223/direct-tls"
    settings.EVIM_XMPP_CA_FILE = "/etc/ssl/certs/ca-certificates.crt"
    assert managed_address_from_settings() == ServerAddress("127.0.0.1", 15222)
    locator = ServerLocator.from_settings()
    home = asyncio.run(locator.locate("Evim.Test"))
    assert home.addresses == (ServerAddress("127.0.0.1", 15222),)
    assert home.ca_file == tmp_path / "prosody" / "certs" / "evim.crt"
    other = asyncio.run(locator.locate("other.test"))
    assert other.addresses == (ServerAddress("xmpp.other.test", 5223, direct_tls=True),)
    assert other.ca_file == Path("/etc/ssl/certs/ca-certificates.crt")


def test_locator_for_an_external_server(settings: SettingsWrapper) -> None:
    settings.EVIM_XMPP_SERVER = "external"
    settings.EVIM_XMPP_DOMAIN = "corp.test"
    settings.EVIM_XMPP_HOST = "xmpp.corp.test"
    settings.EVIM_XMPP_C2S_PORT = 5222
    settings.EVIM_XMPP_ADDRESS_OVERRIDES = ""
    settings.EVIM_XMPP_CA_FILE = ""
    locator = ServerLocator.from_settings()
    home = asyncio.run(locator.locate("corp.test"))
    assert home.addresses == (ServerAddress("xmpp.corp.test", 5222),)
    assert home.ca_file is None  # the system's trust store
    settings.EVIM_XMPP_HOST = ""
    assert managed_address_from_settings() is None


def test_locator_refuses_bad_overrides(settings: SettingsWrapper) -> None:
    settings.EVIM_XMPP_ADDRESS_OVERRIDES = "x.example=host"
    with pytest.raises(ValueError, match="has no port"):
        ServerLocator.from_settings()
