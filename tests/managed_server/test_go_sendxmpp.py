"""A real external client (go-sendxmpp) sends a message through the managed Prosody.

Two accounts are registered on the session's Prosody; go-sendxmpp logs in as one over
STARTTLS (``-n``: it does not verify the self-signed certificate) and sends a message to the
other, who is online with slixmpp — which does verify the certificate, against evim's own
certificate file, so the certificate's names are checked too.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import slixmpp

from tests.fixtures.prosody import RunningProsody

GO_SENDXMPP = "/usr/bin/go-sendxmpp"  # Debian package go-sendxmpp, installed by scripts/test
TIMEOUT = 20


async def go_sendxmpp(
    prosody: RunningProsody, sender: str, password: str, recipient: str, body: str, home: Path
) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        GO_SENDXMPP,
        "-u",
        sender,
        "-p",
        password,
        "-j",
        f"{prosody.c2s_host}:{prosody.c2s_port}",
        "-n",
        recipient,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "HOME": str(home)},  # ignore any personal sendxmpprc
    )
    output, _ = await asyncio.wait_for(process.communicate(body.encode()), TIMEOUT)
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


class Recipient(slixmpp.ClientXMPP):
    """A logged-in client that hands over the first chat message it receives."""

    def __init__(self, jid: str, password: str, certificate: Path) -> None:
        super().__init__(jid, password)
        self.enable_direct_tls = False  # port 5222-style: STARTTLS
        self.ca_certs = certificate  # trust evim's self-signed certificate, and only it
        loop = asyncio.get_running_loop()
        self.online: asyncio.Future[None] = loop.create_future()
        self.received: asyncio.Future[slixmpp.Message] = loop.create_future()
        self.add_event_handler("session_start", self._on_session_start)
        self.add_event_handler("failed_auth", self._on_failure)
        self.add_event_handler("message", self._on_message)

    async def _on_session_start(self, _event: object) -> None:
        self.send_presence()
        if not self.online.done():
            self.online.set_result(None)

    def _on_failure(self, event: object) -> None:
        if not self.online.done():
            self.online.set_exception(AssertionError(f"recipient could not log in: {event}"))

    def _on_message(self, message: slixmpp.Message) -> None:
        chat = message["type"] in ("chat", "normal") and message["body"]
        if chat and not self.received.done():
            self.received.set_result(message)


def test_go_sendxmpp_message_reaches_another_account(
    managed_prosody: RunningProsody, tmp_path: Path
) -> None:
    alice = managed_prosody.register("alice", "alice's p@ss\"word")
    bob = managed_prosody.register("bob", "bob-secret")
    body = "Bonjour Bob ! Le spectacle commence à 20 h 30."

    async def scenario() -> None:
        recipient = Recipient(bob, "bob-secret", managed_prosody.layout.certificate_path)
        recipient.connect(managed_prosody.c2s_host, managed_prosody.c2s_port)
        try:
            await asyncio.wait_for(recipient.online, TIMEOUT)
            code, output = await go_sendxmpp(
                managed_prosody, alice, "alice's p@ss\"word", bob, body, tmp_path
            )
            assert code == 0, output
            message = await asyncio.wait_for(recipient.received, TIMEOUT)
        finally:
            recipient.disconnect()
        assert message["body"] == body
        assert message["from"].bare == alice

    asyncio.run(scenario())


def test_go_sendxmpp_with_a_wrong_password_is_refused(
    managed_prosody: RunningProsody, tmp_path: Path
) -> None:
    carol = managed_prosody.register("carol", "right")

    async def scenario() -> tuple[int, str]:
        return await go_sendxmpp(managed_prosody, carol, "wrong", carol, "hello", tmp_path)

    code, output = asyncio.run(scenario())
    assert code != 0
    assert "not-authorized" in output or "auth" in output.lower(), output
