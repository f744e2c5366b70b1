"""AdminShell against a real Prosody's admin socket, and against sockets that misbehave."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from evim.managed_server.admin_shell import (
    AdminShell,
    AdminShellClosedError,
    AdminShellError,
    AdminSocketMissingError,
    ShellReply,
    redact,
)
from evim.managed_server.errors import ManagedServerError
from evim.managed_server.lua import lua_string
from evim.managed_server.supervisor import ProsodySupervisor
from tests.fixtures.prosody import RunningProsody, make_layout


def shell_for(prosody: RunningProsody, **options: float) -> AdminShell:
    return AdminShell.for_layout(prosody.layout, **options)


def test_run_returns_the_result_text(managed_prosody: RunningProsody) -> None:
    async def scenario() -> str:
        async with shell_for(managed_prosody) as shell:
            return await shell.run("server:version()")

    assert asyncio.run(scenario()).startswith("OK: 0.12")


def test_execute_returns_printed_lines(managed_prosody: RunningProsody) -> None:
    managed_prosody.register("shell-lister", "secret")

    async def scenario() -> ShellReply:
        async with shell_for(managed_prosody) as shell:
            return await shell.execute(f"user:list({lua_string(managed_prosody.domain)})")

    reply = asyncio.run(scenario())
    assert managed_prosody.jid("shell-lister") in reply.output
    assert reply.result.startswith("OK: Showing all ")
    assert reply.value == reply.result.removeprefix("OK: ")


def test_global_environment_lines_and_xml_special_characters(
    managed_prosody: RunningProsody,
) -> None:
    async def scenario() -> ShellReply:
        async with shell_for(managed_prosody) as shell:
            return await shell.execute(
                '>print("a < b & c > d", "]]>"); return true, "<ok> & \\"done\\""'
            )

    reply = asyncio.run(scenario())
    assert reply.output == ("a < b & c > d\t]]>",)
    assert reply.result == 'OK: <ok> & "done"'


def test_an_error_result_raises_with_prosodys_message(managed_prosody: RunningProsody) -> None:
    async def scenario() -> None:
        async with shell_for(managed_prosody) as shell:
            with pytest.raises(AdminShellError) as raised:
                await shell.run('user:list("nowhere.invalid")')
            assert raised.value.prosody_message == "Error: No such host"
            assert "No such host" in str(raised.value)
            assert isinstance(raised.value, ManagedServerError)

            with pytest.raises(AdminShellError, match="attempt to call a nil value"):
                await shell.run(">no_such_function()")
            with pytest.raises(AdminShellError, match="couldn't understand"):
                await shell.run("this is not lua")
            # The connection is still usable after errors.
            assert (await shell.run(">return 1 + 1")) == "Result: 2"

    asyncio.run(scenario())


def test_one_connection_serves_many_commands(managed_prosody: RunningProsody) -> None:
    async def scenario() -> tuple[list[str], str]:
        async with shell_for(managed_prosody) as shell:
            await shell.run(">evim_test_marker = 41")
            sequential = [await shell.run(f">return evim_test_marker + {n}") for n in range(20)]
            # Concurrent calls are pipelined; each gets its own answer.
            concurrent = await asyncio.gather(*(shell.run(f">return {n} * 10") for n in range(100)))
            assert concurrent == [f"Result: {n * 10}" for n in range(100)]
            return sequential, await shell.run(">return evim_test_marker")

    sequential, marker = asyncio.run(scenario())
    assert sequential == [f"Result: {41 + n}" for n in range(20)]
    assert marker == "Result: 41"  # the same session from the first command to the last


def test_a_new_connection_is_a_new_session(managed_prosody: RunningProsody) -> None:
    async def scenario() -> str:
        async with shell_for(managed_prosody) as shell:
            await shell.run(">evim_other_marker = 1")
        async with shell_for(managed_prosody) as shell:
            return await shell.run(">return evim_other_marker")

    assert asyncio.run(scenario()) == "Result: nil"


def test_secrets_are_redacted_from_errors(managed_prosody: RunningProsody) -> None:
    secret = 'S3cr3t-"quoted"-é'

    async def scenario() -> AdminShellError:
        async with shell_for(managed_prosody) as shell:
            # A syntax error: Prosody quotes the source near it, i.e. the secret.
            line = f"x = 1 {lua_string(secret)}"
            with pytest.raises(AdminShellError) as unredacted:
                await shell.run(line)
            assert secret in str(unredacted.value)  # the danger is real
            with pytest.raises(AdminShellError) as raised:
                await shell.run(line, secrets=[secret])
            return raised.value

    error = asyncio.run(scenario())
    assert "***" in str(error)
    for text in (str(error), error.prosody_message, repr(error.args)):
        assert "S3cr3t" not in text


def test_redact() -> None:
    assert redact("a secret and secret", ["secret"]) == "a *** and ***"
    assert redact('near "p\\195\\169"', ["pé"]) == 'near "***"'
    assert redact("nothing", ["", "x"]) == "nothing"
    assert redact("abcd", ["bc", "abcd"]) == "***"


def test_a_command_that_does_not_answer_times_out(managed_prosody: RunningProsody) -> None:
    async def scenario() -> None:
        async with shell_for(managed_prosody) as shell:
            with pytest.raises(AdminShellError, match=r"did not answer within 0\.3 s"):
                await shell.run(">require'util.async'.sleep(5)", timeout=0.3)
            assert not shell.connected
            # Answers can no longer be matched to commands: the connection is given up.
            with pytest.raises(AdminShellClosedError, match="no longer usable"):
                await shell.run("server:version()")
        async with shell_for(managed_prosody) as shell:
            assert (await shell.run("server:version()")).startswith("OK: ")

    asyncio.run(scenario())


def test_a_cancelled_command_does_not_shift_the_answers(managed_prosody: RunningProsody) -> None:
    async def scenario() -> None:
        async with shell_for(managed_prosody) as shell:
            slow = asyncio.ensure_future(
                shell.run(">require'util.async'.sleep(0.3); return 'slow'")
            )
            await asyncio.sleep(0)  # let it send its command
            slow.cancel()
            assert (await shell.run(">return 'fast'")) == "Result: fast"
            assert slow.cancelled()

    asyncio.run(scenario())


def test_lines_that_xml_cannot_carry_are_refused(managed_prosody: RunningProsody) -> None:
    async def scenario() -> None:
        async with shell_for(managed_prosody) as shell:
            for bad in ("return '\x00'", "return '\x1b'", "   ", "\ud800"):
                with pytest.raises(ValueError):
                    await shell.run(bad)
            assert (await shell.run(">return 'still fine'")) == "Result: still fine"

    asyncio.run(scenario())


def test_not_connected() -> None:
    async def scenario() -> None:
        shell = AdminShell("/nonexistent.sock")
        with pytest.raises(AdminShellClosedError, match="not connected"):
            await shell.run("server:version()")

    asyncio.run(scenario())


def test_missing_socket_says_how_to_start_the_server(tmp_path: Path) -> None:
    layout = make_layout(tmp_path / "prosody")

    async def scenario() -> None:
        async with AdminShell.for_layout(layout):
            pass

    with pytest.raises(AdminSocketMissingError) as raised:
        asyncio.run(scenario())
    message = str(raised.value)
    assert "not running" in message
    assert "evim xmpp start" in message and "evim run" in message
    assert str(layout.admin_socket) in message


def test_stale_socket_file_says_the_same(tmp_path: Path) -> None:
    path = tmp_path / "prosody.sock"
    with socket.socket(socket.AF_UNIX) as stale:
        stale.bind(str(path))  # the file stays; nobody listens
    assert path.exists()

    async def scenario() -> None:
        async with AdminShell(path):
            pass

    with pytest.raises(AdminSocketMissingError, match="evim xmpp start"):
        asyncio.run(scenario())


def test_a_socket_that_never_answers(tmp_path: Path) -> None:
    path = tmp_path / "silent.sock"

    async def scenario() -> None:
        async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read()  # reads, never answers
            writer.close()

        server = await asyncio.start_unix_server(swallow, path=str(path))
        async with server:
            with pytest.raises(AdminShellError, match="did not answer like Prosody"):
                async with AdminShell(path, connect_timeout=0.3):
                    pass

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (b"HTTP/1.1 400 Bad Request\r\n\r\n", "invalid data"),
        (b"<?xml version='1.0'?><html>", "not Prosody's admin socket"),
        (b"", "closed the admin connection"),
    ],
)
def test_a_socket_that_is_not_prosody(tmp_path: Path, answer: bytes, message: str) -> None:
    path = tmp_path / "other.sock"

    async def scenario() -> None:
        async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(100)
            writer.write(answer)
            await writer.drain()
            writer.close()

        server = await asyncio.start_unix_server(reply, path=str(path))
        async with server:
            with pytest.raises(AdminShellError, match=message):
                async with AdminShell(path, connect_timeout=5):
                    pass

    asyncio.run(scenario())


def test_prosody_stopping_fails_pending_commands(tmp_path: Path) -> None:
    layout = make_layout(tmp_path / "prosody")

    async def scenario() -> None:
        supervisor = ProsodySupervisor(layout)
        await supervisor.start()
        try:
            async with AdminShell.for_layout(layout) as shell:
                assert (await shell.run(">return 'connected'")) == "Result: connected"
                pending = asyncio.ensure_future(shell.run(">require'util.async'.sleep(30)"))
                await asyncio.sleep(0)  # the command is sent
                await supervisor.stop()
                with pytest.raises(AdminShellError, match="Prosody closed the admin connection"):
                    await asyncio.wait_for(pending, 10)
                with pytest.raises(AdminShellError):
                    await shell.run("server:version()")
        finally:
            await supervisor.stop()
        with pytest.raises(AdminSocketMissingError):
            async with AdminShell.for_layout(layout):
                pass

    asyncio.run(scenario())


def test_timeouts_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        AdminShell("/x.sock", timeout=0)
