"""Connection tests against real servers: the session's Prosody (STARTTLS), a second Prosody
with a direct-TLS port, closed ports, servers that never answer, a local DNS server."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import ssl
import threading
import warnings
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper

from evim.xmpp import connection_test
from evim.xmpp.addresses import ServerAddress, ServerLocator
from evim.xmpp.connection_test import ConnectionTestResult, Outcome
from tests.fixtures.dns import LocalDnsServer
from tests.fixtures.prosody import RunningProsody
from tests.xmpp.conftest import Account, DirectTlsProsody, closed_port, silent_server

T = TypeVar("T")
TIMEOUT = 10.0


@pytest.fixture(autouse=True)
def _no_asyncio_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Nothing may be left behind: no "Task was destroyed but it is pending", no error in
    slixmpp's send queue, no worker thread still running."""
    yield
    gc.collect()
    errors = [
        record.getMessage()
        for record in caplog.records
        if record.levelno >= logging.ERROR
        and (record.name.startswith("asyncio") or "xception" in record.getMessage())
    ]
    assert errors == []
    workers = [thread.name for thread in threading.enumerate() if "evim-xmpp-test" in thread.name]
    assert workers == []


def run(factory: Callable[[], Awaitable[T]]) -> T:
    """Run ``factory()`` on a new loop; fail on a leftover task or an unclosed resource."""

    async def main() -> tuple[T, list[asyncio.Task[object]]]:
        value = await factory()
        current = asyncio.current_task()
        return value, [task for task in asyncio.all_tasks() if task is not current]

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value, leftovers = asyncio.run(main())
        gc.collect()
    assert leftovers == []
    unclosed = [str(warning.message) for warning in caught if warning.category is ResourceWarning]
    assert unclosed == []
    return value


def login(
    jid: str,
    password: str,
    addresses: list[ServerAddress],
    ca_file: Path | None,
    timeout: float = TIMEOUT,
) -> ConnectionTestResult:
    return run(
        lambda: connection_test.test_login(
            jid=jid, password=password, addresses=addresses, ca_file=ca_file, timeout=timeout
        )
    )


def managed(prosody: RunningProsody) -> ServerAddress:
    return ServerAddress(prosody.c2s_host, prosody.c2s_port)


def assert_clean_detail(result: ConnectionTestResult, password: str) -> None:
    assert result.detail
    assert password not in result.detail
    assert result.elapsed >= 0


# --- the managed Prosody (STARTTLS) -------------------------------------------------------------


def test_login_succeeds_trusting_the_managed_certificate(
    managed_prosody: RunningProsody, account: Account
) -> None:
    address = managed(managed_prosody)
    result = login(
        account.jid, account.password, [address], managed_prosody.layout.certificate_path
    )
    assert result.outcome is Outcome.OK, result.detail
    assert result.ok
    assert result.address == address
    assert "SASL SCRAM-SHA-1" in result.detail
    assert "STARTTLS" in result.detail
    assert f"logged in as {account.jid}/" in result.detail
    assert_clean_detail(result, account.password)


def test_wrong_password_is_auth(managed_prosody: RunningProsody, account: Account) -> None:
    result = login(
        account.jid,
        "not the password",
        [managed(managed_prosody)],
        managed_prosody.layout.certificate_path,
    )
    assert result.outcome is Outcome.AUTH, result.detail
    assert "not-authorized" in result.detail
    assert result.address == managed(managed_prosody)
    assert_clean_detail(result, "not the password")


def test_unknown_user_is_auth(managed_prosody: RunningProsody) -> None:
    result = login(
        managed_prosody.jid("nobody-here"),
        "whatever",
        [managed(managed_prosody)],
        managed_prosody.layout.certificate_path,
    )
    assert result.outcome is Outcome.AUTH, result.detail


def test_password_saslprep_refuses_is_auth_and_nothing_is_sent(
    managed_prosody: RunningProsody,
) -> None:
    port = closed_port()  # nothing listens: had anything been sent, this would be REFUSED
    result = login(managed_prosody.jid("a"), "bell\x07", [ServerAddress("127.0.0.1", port)], None)
    assert result.outcome is Outcome.AUTH
    assert "SASLprep" in result.detail
    assert result.address is None


def test_closed_port_is_refused(managed_prosody: RunningProsody, account: Account) -> None:
    address = ServerAddress("127.0.0.1", closed_port())
    result = login(
        account.jid, account.password, [address], managed_prosody.layout.certificate_path
    )
    assert result.outcome is Outcome.REFUSED, result.detail
    assert result.address == address
    assert "refused" in result.detail


def test_self_signed_certificate_is_not_trusted_by_the_system_store(
    managed_prosody: RunningProsody, account: Account
) -> None:
    result = login(account.jid, account.password, [managed(managed_prosody)], None)
    assert result.outcome is Outcome.CERTIFICATE, result.detail
    assert "STARTTLS" in result.detail
    assert "self-signed" in result.detail


def test_domain_not_served_is_protocol(managed_prosody: RunningProsody) -> None:
    result = login(
        "someone@other.test",
        "secret",
        [managed(managed_prosody)],
        managed_prosody.layout.certificate_path,
    )
    assert result.outcome is Outcome.PROTOCOL, result.detail
    assert "host-unknown" in result.detail


def test_unusable_ca_file_is_certificate(account: Account, tmp_path: Path) -> None:
    bad = tmp_path / "not-a-bundle.pem"
    bad.write_text("no certificate here\n")
    result = login(account.jid, account.password, [ServerAddress("127.0.0.1", 1)], bad)
    assert result.outcome is Outcome.CERTIFICATE
    assert "CA file" in result.detail
    assert result.address is None


def test_unknown_host(account: Account) -> None:
    address = ServerAddress("no-such-host.invalid", 5222)
    result = login(account.jid, account.password, [address], None)
    assert result.outcome is Outcome.UNKNOWN_HOST, result.detail
    assert result.address == address
    assert "no-such-host.invalid" in result.detail


def test_no_address_is_unknown_host(account: Account) -> None:
    result = login(account.jid, account.password, [], None)
    assert result.outcome is Outcome.UNKNOWN_HOST
    assert result.address is None


def test_not_a_bare_jid_is_an_error() -> None:
    for jid in ("no-at-sign", "user@", "a@b/resource", "@domain.test"):
        with pytest.raises(ValueError, match="JID"):
            login(jid, "secret", [ServerAddress("127.0.0.1", 1)], None)


def test_a_server_that_does_not_speak_xmpp_is_protocol(account: Account) -> None:
    async def scenario() -> ConnectionTestResult:
        handlers: list[asyncio.Task[None]] = []

        async def http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            current = asyncio.current_task()
            assert current is not None
            handlers.append(current)
            await reader.read(100)
            writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            with contextlib.suppress(OSError):
                await reader.read()  # until the client hangs up
            writer.close()

        server = await asyncio.start_server(http, "127.0.0.1", 0)
        async with server:
            port = server.sockets[0].getsockname()[1]
            result = await connection_test.test_login(
                jid=account.jid,
                password=account.password,
                addresses=[ServerAddress("127.0.0.1", port)],
                ca_file=None,
                timeout=TIMEOUT,
            )
            await asyncio.gather(*handlers)  # the client hung up: they end
        return result

    result = run(scenario)
    assert result.outcome is Outcome.PROTOCOL, result.detail
    assert "does not speak XMPP (it sent b'HTTP/1.1 400 Bad Request" in result.detail
    assert result.elapsed < TIMEOUT / 2


# --- several addresses ------------------------------------------------------------------------


def test_addresses_are_tried_in_order_until_one_answers(
    managed_prosody: RunningProsody, account: Account
) -> None:
    addresses = [
        ServerAddress("no-such-host.invalid", 5222),
        ServerAddress("127.0.0.1", closed_port()),
        managed(managed_prosody),
    ]
    result = login(
        account.jid, account.password, addresses, managed_prosody.layout.certificate_path
    )
    assert result.outcome is Outcome.OK, result.detail
    assert result.address == managed(managed_prosody)


def test_an_address_that_answers_ends_the_test(
    managed_prosody: RunningProsody, account: Account
) -> None:
    # The first address answers at the XMPP level and refuses the password: no second try
    # (the second address would accept it: there the account has another password).
    addresses = [managed(managed_prosody), ServerAddress("127.0.0.1", closed_port())]
    result = login(account.jid, "wrong", addresses, managed_prosody.layout.certificate_path)
    assert result.outcome is Outcome.AUTH
    assert result.address == addresses[0]


def test_when_no_address_answers_the_furthest_failure_is_reported(account: Account) -> None:
    closed = ServerAddress("127.0.0.1", closed_port())
    addresses = [ServerAddress("no-such-host.invalid", 5222), closed]
    result = login(account.jid, account.password, addresses, None)
    assert result.outcome is Outcome.REFUSED, result.detail
    assert result.address == closed
    assert "no-such-host.invalid" in result.detail
    assert str(closed) in result.detail


# --- time-outs --------------------------------------------------------------------------------


@pytest.mark.parametrize("direct_tls", [False, True], ids=["starttls", "direct-tls"])
def test_server_that_never_answers_is_timeout(account: Account, direct_tls: bool) -> None:
    timeout = 1.0

    async def scenario() -> ConnectionTestResult:
        async with silent_server() as port:
            return await connection_test.test_login(
                jid=account.jid,
                password=account.password,
                addresses=[ServerAddress("127.0.0.1", port, direct_tls=direct_tls)],
                ca_file=None,
                timeout=timeout,
            )

    result = run(scenario)
    assert result.outcome is Outcome.TIMEOUT, result.detail
    assert result.elapsed < 3 * timeout
    if direct_tls:
        assert "TLS handshake" in result.detail
    else:
        assert "did not open the XMPP stream" in result.detail


def test_cancelling_the_caller_stops_the_test(account: Account) -> None:
    async def scenario() -> float:
        async with silent_server() as port:
            task = asyncio.create_task(
                connection_test.test_login(
                    jid=account.jid,
                    password=account.password,
                    addresses=[ServerAddress("127.0.0.1", port)],
                    ca_file=None,
                    timeout=30,
                )
            )
            await asyncio.wait({task}, timeout=0.3)
            assert not task.done()
            loop = asyncio.get_running_loop()
            cancelled_at = loop.time()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return loop.time() - cancelled_at

    assert run(scenario) < 2.0


# --- direct TLS (XEP-0368) ------------------------------------------------------------------


def test_direct_tls_login(direct_tls_prosody: DirectTlsProsody) -> None:
    prosody = direct_tls_prosody
    address = ServerAddress(prosody.layout.c2s_host, prosody.direct_tls_port, direct_tls=True)
    result = login(
        prosody.account.jid, prosody.account.password, [address], prosody.layout.certificate_path
    )
    assert result.outcome is Outcome.OK, result.detail
    assert "direct TLS" in result.detail
    assert result.address == address


def test_direct_tls_untrusted_certificate(direct_tls_prosody: DirectTlsProsody) -> None:
    prosody = direct_tls_prosody
    address = ServerAddress(prosody.layout.c2s_host, prosody.direct_tls_port, direct_tls=True)
    result = login(prosody.account.jid, prosody.account.password, [address], None)
    assert result.outcome is Outcome.CERTIFICATE, result.detail
    assert "self-signed" in result.detail


def test_direct_tls_for_a_domain_the_server_does_not_serve(
    direct_tls_prosody: DirectTlsProsody,
) -> None:
    # Prosody answers an unknown name (SNI) with a TLS alert.
    prosody = direct_tls_prosody
    address = ServerAddress(prosody.layout.c2s_host, prosody.direct_tls_port, direct_tls=True)
    result = login("someone@other.test", "secret", [address], prosody.layout.certificate_path)
    assert result.outcome is Outcome.PROTOCOL, result.detail
    assert "does not serve other.test" in result.detail


def test_certificate_must_name_the_jid_domain(managed_prosody: RunningProsody) -> None:
    # A TLS server with evim's certificate (for evim.test), trusted, taking any name.
    layout = managed_prosody.layout
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(layout.certificate_path, layout.key_path)

    async def scenario() -> ConnectionTestResult:
        handlers: list[asyncio.Task[None]] = []

        async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            current = asyncio.current_task()
            assert current is not None
            handlers.append(current)
            with contextlib.suppress(OSError):
                await reader.read()
            writer.close()

        server = await asyncio.start_server(hold, "127.0.0.1", 0, ssl=context)
        async with server:
            port = server.sockets[0].getsockname()[1]
            result = await connection_test.test_login(
                jid="someone@other.test",
                password="secret",
                addresses=[ServerAddress("127.0.0.1", port, direct_tls=True)],
                ca_file=layout.certificate_path,
                timeout=TIMEOUT,
            )
            await asyncio.gather(*handlers)
        return result

    result = run(scenario)
    assert result.outcome is Outcome.CERTIFICATE, result.detail
    assert "Hostname mismatch" in result.detail
    assert "other.test" in result.detail


def test_direct_tls_on_a_starttls_port_is_tls(
    managed_prosody: RunningProsody, account: Account
) -> None:
    address = ServerAddress(managed_prosody.c2s_host, managed_prosody.c2s_port, direct_tls=True)
    result = login(
        account.jid, account.password, [address], managed_prosody.layout.certificate_path
    )
    assert result.outcome is Outcome.TLS, result.detail
    assert "TLS handshake failed" in result.detail


def test_starttls_on_a_direct_tls_port_fails_quickly(
    direct_tls_prosody: DirectTlsProsody,
) -> None:
    prosody = direct_tls_prosody
    address = ServerAddress(prosody.layout.c2s_host, prosody.direct_tls_port)
    result = login(
        prosody.account.jid,
        prosody.account.password,
        [address],
        prosody.layout.certificate_path,
        timeout=5,
    )
    assert result.outcome is Outcome.PROTOCOL, result.detail
    assert "without opening an XMPP stream" in result.detail


# --- from settings, through DNS, in batches -----------------------------------------------------


def test_login_for_uses_the_managed_server_settings(
    managed_prosody: RunningProsody, account: Account, settings: SettingsWrapper
) -> None:
    settings.EVIM_XMPP_SERVER = "managed"
    settings.EVIM_XMPP_DOMAIN = managed_prosody.domain
    settings.EVIM_XMPP_HOST = managed_prosody.c2s_host
    settings.EVIM_XMPP_C2S_PORT = managed_prosody.c2s_port
    settings.EVIM_DATA_DIR = managed_prosody.layout.directory.parent
    settings.EVIM_XMPP_ADDRESS_OVERRIDES = ""
    settings.EVIM_XMPP_TIMEOUT = 10
    result = run(lambda: connection_test.test_login_for(account.jid, account.password))
    assert result.outcome is Outcome.OK, result.detail
    assert result.address == managed(managed_prosody)


def dns_locator(dns: LocalDnsServer, ca_file: Path | None) -> ServerLocator:
    return ServerLocator(
        home_domain="home.invalid",
        home_address=None,
        home_ca_file=None,
        overrides={},
        ca_file=ca_file,
        resolver_nameservers=[dns.host],
        resolver_port=dns.port,
    )


def test_login_through_srv_records(
    managed_prosody: RunningProsody, account: Account, local_dns: LocalDnsServer
) -> None:
    locator = dns_locator(local_dns, managed_prosody.layout.certificate_path)
    result = run(
        lambda: connection_test.test_login_for(
            account.jid, account.password, locator=locator, timeout=TIMEOUT
        )
    )
    assert result.outcome is Outcome.OK, result.detail
    assert result.address == ServerAddress("localhost", managed_prosody.c2s_port)
    assert (f"_xmpp-client._tcp.{managed_prosody.domain}", "SRV") in local_dns.queries


def test_login_for_a_domain_that_does_not_exist(local_dns: LocalDnsServer) -> None:
    locator = dns_locator(local_dns, None)
    result = run(
        lambda: connection_test.test_login_for(
            "someone@no-such-domain.invalid", "secret", locator=locator, timeout=TIMEOUT
        )
    )
    assert result.outcome is Outcome.UNKNOWN_HOST, result.detail
    assert result.address is None
    assert "does not exist" in result.detail


def test_many_reports_progress_and_keeps_the_order(
    managed_prosody: RunningProsody, account: Account
) -> None:
    locator = ServerLocator(
        home_domain=managed_prosody.domain,
        home_address=managed(managed_prosody),
        home_ca_file=managed_prosody.layout.certificate_path,
    )
    items = [
        (account.jid, account.password),
        (account.jid, "wrong password"),
        (managed_prosody.jid("nobody-here"), "whatever"),
        (account.jid, account.password),
    ]
    calls: list[tuple[int, int]] = []

    async def progress(done: int, total: int) -> None:
        calls.append((done, total))

    results = run(
        lambda: connection_test.test_many(
            items, concurrency=2, progress=progress, locator=locator, timeout=TIMEOUT
        )
    )
    assert [result.outcome for result in results] == [
        Outcome.OK,
        Outcome.AUTH,
        Outcome.AUTH,
        Outcome.OK,
    ]
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_many_checks_every_jid_first() -> None:
    with pytest.raises(ValueError, match="not-a-jid"):
        run(
            lambda: connection_test.test_many(
                [("a@b.test", "x"), ("not-a-jid", "y")],
                locator=ServerLocator("b.test", ServerAddress("127.0.0.1", 1), None),
                timeout=1,
            )
        )
