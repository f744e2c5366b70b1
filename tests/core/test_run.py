"""``evim run`` and ``evim demo`` as an administrator starts them: real processes, real
Prosody, a real browser and a real external XMPP client (go-sendxmpp)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from evim.managed_server.accounts import register_account
from evim.managed_server.admin_shell import AdminShell
from evim.managed_server.layout import ServerLayout
from tests.fixtures.processes import evim_environment, free_port, read_until
from tests.fixtures.prosody import free_ports

GO_SENDXMPP = "/usr/bin/go-sendxmpp"


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def start(arguments: list[str], environment: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "evim", *arguments],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def stop(process: subprocess.Popen[str], signum: int = signal.SIGTERM) -> str:
    process.send_signal(signum)
    output, _ = process.communicate(timeout=30)
    return output


@pytest.fixture
def xmpp_ports() -> dict[str, str]:
    c2s, http = free_ports(2)
    return {"EVIM_XMPP_C2S_PORT": str(c2s), "EVIM_XMPP_HTTP_PORT": str(http)}


def test_run_without_messaging_starts_no_xmpp_server(
    tmp_path: Path, xmpp_ports: dict[str, str]
) -> None:
    port = free_port()
    environment = evim_environment(tmp_path, **xmpp_ports)  # no project.yml: disabled
    process = start(["run", "--port", str(port)], environment)
    try:
        output = read_until(process, "evim is serving on")
    finally:
        output_end = stop(process)
    assert f"http://127.0.0.1:{port}/" in output
    assert "Messaging is disabled: no XMPP server is started or contacted." in output
    assert not (tmp_path / "prosody").exists()
    assert process.returncode == 0, output + output_end


def test_run_starts_and_stops_the_managed_prosody(
    tmp_path: Path, xmpp_ports: dict[str, str]
) -> None:
    (tmp_path / "project.yml").write_text("all:\n  messaging:\n    enable: true\n")
    environment = evim_environment(tmp_path, **xmpp_ports)
    c2s = int(xmpp_ports["EVIM_XMPP_C2S_PORT"])
    process = start(["run", "--port", str(free_port())], environment)
    try:
        read_until(process, "evim is serving on")
        assert port_open(c2s)
        assert (tmp_path / "prosody" / "prosody.cfg.lua").exists()
    finally:
        output = stop(process)
    assert process.returncode == 0, output
    assert not port_open(c2s)


@pytest.fixture
def demo(
    tmp_path: Path, xmpp_ports: dict[str, str]
) -> Iterator[tuple[subprocess.Popen[str], str, ServerLayout]]:
    environment = evim_environment(tmp_path, **xmpp_ports)
    del environment["EVIM_PROJECT_YML"]  # the demo brings its own project.yml
    port = free_port()
    process = start(["demo", "--port", str(port)], environment)
    try:
        banner = read_until(process, "Stop: Ctrl+C", timeout=90)
        layout = ServerLayout(
            directory=tmp_path / "prosody",
            domain="localhost",
            muc_host="conference.localhost",
            c2s_port=int(xmpp_ports["EVIM_XMPP_C2S_PORT"]),
            http_port=int(xmpp_ports["EVIM_XMPP_HTTP_PORT"]),
        )
        yield process, banner, layout
    finally:
        if process.poll() is None:
            stop(process, signal.SIGINT)


def test_demo_prints_where_to_log_in_and_the_logins_work(
    demo: tuple[subprocess.Popen[str], str, ServerLayout], browser: Browser
) -> None:
    process, banner, _ = demo
    address = re.search(r"Log in at\s+(http://\S+)", banner)
    assert address is not None, banner
    logins = re.findall(
        r"^\s+(\w+)\s+(lilas-[0-9a-f]{8})\s+(.+) \((\w+)\)\s+(\S+@localhost)$", banner, re.M
    )
    assert len(logins) >= 4, banner
    assert [login[3] for login in logins].count("administrator") == 1
    # Every demo user has an account on the managed server, named after their login.
    assert {login[4] for login in logins} == {f"{login[0]}@localhost" for login in logins}
    assert "Théâtre des Lilas" in banner

    username, password, full_name, *_ = next(
        login for login in logins if login[3] == "administrator"
    )
    context = browser.new_context(locale="fr-FR")
    page = context.new_page()
    page.goto(address.group(1))
    page.get_by_label("Identifiant").fill(username)
    page.get_by_label("Mot de passe").fill(password)
    page.get_by_role("button", name="Se connecter").click()
    expect(page.locator("h1")).to_have_text(f"Bonjour, {full_name.split()[0]}")
    expect(page.locator(".brand")).to_have_text("Théâtre des Lilas")
    page.locator("summary", has_text="Paramétrage").click()
    expect(page.locator("[data-menu=messaging-settings]")).to_be_visible()
    context.close()
    assert process.poll() is None


def go_sendxmpp(layout: ServerLayout, jid: str, password: str, to: str, home: Path) -> int:
    result = subprocess.run(
        [GO_SENDXMPP, "-u", jid, "-p", password, "-j", f"127.0.0.1:{layout.c2s_port}", "-n", to],
        input="Bonjour depuis go-sendxmpp",
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "HOME": str(home)},
    )
    return result.returncode


def test_demo_prosody_accepts_a_real_client(
    demo: tuple[subprocess.Popen[str], str, ServerLayout], tmp_path: Path
) -> None:
    _, _, layout = demo
    # In a thread of its own: this module's browser keeps an event loop in the main thread.
    with ThreadPoolExecutor(1) as thread:
        sender = thread.submit(
            asyncio.run, register_account(layout, "testeur", "un-secret-de-test")
        ).result()
        recipient = thread.submit(
            asyncio.run, register_account(layout, "destinataire", "un-autre-secret")
        ).result()
    assert go_sendxmpp(layout, sender, "un-secret-de-test", recipient, tmp_path) == 0
    assert go_sendxmpp(layout, sender, "wrong-password", recipient, tmp_path) != 0


def test_demo_stops_prosody_on_ctrl_c(
    demo: tuple[subprocess.Popen[str], str, ServerLayout],
) -> None:
    process, _, layout = demo
    assert port_open(layout.c2s_port)
    stop(process, signal.SIGINT)
    assert process.returncode == 0
    assert not port_open(layout.c2s_port)


def test_demo_has_the_spaces_from_the_first_start(
    demo: tuple[subprocess.Popen[str], str, ServerLayout],
) -> None:
    """The structure's room, the common room, colleagues as contacts and bookmarks exist on
    the demo's server as soon as it is up (``evim demo`` syncs after provisioning)."""
    _, banner, layout = demo
    assert "Rooms, contacts and bookmarks:" in banner
    room = "theatre-des-lilas@conference.localhost"
    common = "e-venement-public@conference.localhost"

    async def inspect() -> list[str]:
        async with AdminShell.for_layout(layout) as shell:
            muc = 'prosody.hosts["conference.localhost"].modules.muc'
            pep = 'prosody.hosts["localhost"].modules.pep'
            commands = [
                f'>return {muc}.get_room_from_jid("{room}"):get_members_only()',
                f'>return {muc}.get_room_from_jid("{room}"):get_affiliation("camille@localhost")',
                f'>return {muc}.get_room_from_jid("{room}"):get_affiliation("jeanne@localhost")',
                f'>return {muc}.get_room_from_jid("{common}"):get_affiliation("camille@localhost")',
                '>return require"core.rostermanager".load_roster("jeanne", "localhost")'
                '["hugo@localhost"].name',
                f'>return select(2, {pep}.get_pep_service("jeanne")'
                f':get_items("urn:xmpp:bookmarks:1", true))["{common}"] ~= nil',
            ]
            return [await shell.run(command) for command in commands]

    with ThreadPoolExecutor(1) as thread:
        results = thread.submit(asyncio.run, inspect()).result()
    assert [result.removeprefix("Result: ") for result in results] == [
        "true",
        "owner",
        "member",
        "admin",
        "Hugo Lefèvre",
        "true",
    ]
