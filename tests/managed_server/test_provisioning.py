"""Provisioning accounts on a real Prosody through its admin socket.

The module runs its own Prosody (it creates and deletes many accounts); clients are
slixmpp (logins, vCards, PEP) and go-sendxmpp.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from evim.managed_server import provisioning
from evim.managed_server.admin_shell import AdminShellError, AdminSocketMissingError
from evim.managed_server.layout import ServerLayout
from evim.managed_server.localparts import (
    MAX_STORED_NAME_LENGTH,
    generate_password,
    localpart_for,
)
from evim.managed_server.provisioning import (
    PIPELINE_DEPTH,
    AccountNotFoundError,
    NewAccount,
    Outcome,
    Provisioner,
    ProvisioningError,
    clean_display_name,
    create_accounts,
    delete_account,
    existing_accounts,
    set_display_name,
    set_password,
)
from evim.managed_server.supervisor import ProsodySupervisor
from tests.fixtures.prosody import LoopThread, RunningProsody, make_layout, running_prosody
from tests.managed_server.test_go_sendxmpp import Recipient, go_sendxmpp
from tests.managed_server.xmpp_client import (
    TIMEOUT,
    VCARD4_NS,
    can_log_in,
    fetch_nickname,
    fetch_vcard4,
    fetch_vcard_temp,
    logged_in,
    publish_own_vcard_temp,
    text_of,
)


@pytest.fixture(scope="module")
def prosody(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProsody]:
    """A Prosody of this module's own."""
    layout = make_layout(tmp_path_factory.mktemp("provisioning") / "prosody")
    with running_prosody(layout, name="provisioning-prosody") as prosody:
        yield prosody


@pytest.fixture(scope="module")
def viewer(prosody: RunningProsody) -> tuple[str, str]:
    """Another user of the server, to look at accounts from outside: (jid, password)."""
    account = new("viewer")
    assert create(prosody.layout, account)[0].created
    return prosody.jid("viewer"), account.password


def create(layout: ServerLayout, *accounts: NewAccount) -> list[provisioning.ProvisioningResult]:
    return asyncio.run(create_accounts(layout, accounts))


def new(localpart: str, full_name: str = "") -> NewAccount:
    return NewAccount(localpart, generate_password(), full_name)


# --- creating ------------------------------------------------------------------------------


def test_create_50_accounts_in_one_call(prosody: RunningProsody) -> None:
    layout = prosody.layout
    accounts = [new(f"bulk{index}", f"Bulk User {index}") for index in range(50)]
    progress: list[tuple[int, int]] = []
    results = asyncio.run(
        create_accounts(
            layout, accounts, progress=lambda done, total: progress.append((done, total))
        )
    )

    assert progress == [(done, 50) for done in range(1, 51)]
    assert [result.localpart for result in results] == [account.localpart for account in accounts]
    assert all(result.outcome is Outcome.CREATED for result in results), results
    assert all(result.created and not result.reason for result in results)
    assert results[7].jid == f"bulk7@{layout.domain}"
    assert {f"bulk{index}" for index in range(50)} <= asyncio.run(existing_accounts(layout))

    async def logins() -> list[bool]:
        checks = [(account, account.password) for account in accounts[::12]]
        checks.append((accounts[-1], accounts[0].password))  # someone else's password
        return [
            await can_log_in(layout, prosody.jid(account.localpart), password)
            for account, password in checks
        ]

    assert asyncio.run(logins()) == [True, True, True, True, True, False]


def test_created_accounts_send_messages_with_go_sendxmpp(
    prosody: RunningProsody, tmp_path: Path
) -> None:
    sender = new(localpart_for("Inès Moreau", taken=()), "Inès Moreau")
    recipient = new(localpart_for("Дмитрий", taken=()), "Дмитрий Петров")
    assert (sender.localpart, recipient.localpart) == ("ines-moreau", "дмитрий")
    assert all(result.created for result in create(prosody.layout, sender, recipient))
    body = "Répétition générale à 19 h."

    async def scenario() -> str:
        receiving = Recipient(
            prosody.jid(recipient.localpart), recipient.password, prosody.layout.certificate_path
        )
        receiving.connect(prosody.c2s_host, prosody.c2s_port)
        try:
            await asyncio.wait_for(receiving.online, TIMEOUT)
            code, output = await go_sendxmpp(
                prosody,
                prosody.jid(sender.localpart),
                sender.password,
                prosody.jid(recipient.localpart),
                body,
                tmp_path,
            )
            assert code == 0, output
            message = await asyncio.wait_for(receiving.received, TIMEOUT)
            assert message["from"].bare == prosody.jid(sender.localpart)
            return str(message["body"])
        finally:
            await asyncio.wait_for(receiving.disconnect(wait=1.0), TIMEOUT)

    assert asyncio.run(scenario()) == body


def test_an_existing_account_is_reported_and_left_alone(
    prosody: RunningProsody, viewer: tuple[str, str]
) -> None:
    layout = prosody.layout
    first = new("existing", "First Name")
    assert create(layout, first)[0].outcome is Outcome.CREATED

    second = new("existing", "Second Name")
    progress: list[tuple[int, int]] = []
    [result] = asyncio.run(
        create_accounts(layout, [second], progress=lambda *args: progress.append(args))
    )
    assert result.outcome is Outcome.ALREADY_EXISTED
    assert not result.created
    assert progress == [(1, 1)]

    async def scenario() -> tuple[bool, bool, str]:
        old = await can_log_in(layout, prosody.jid("existing"), first.password)
        replaced = await can_log_in(layout, prosody.jid("existing"), second.password)
        async with logged_in(layout, *viewer) as watcher:
            vcard = await fetch_vcard_temp(watcher, prosody.jid("existing"))
        return old, replaced, text_of(vcard, "FN")

    old, replaced, name = asyncio.run(scenario())
    assert (old, replaced) == (True, False)
    assert name == "First Name"


def test_invalid_accounts_fail_alone(prosody: RunningProsody) -> None:
    layout = prosody.layout
    accounts = [
        new("valid-one"),
        new("with space"),
        new("Capital"),  # Prosody would store "capital": refused rather than renamed
        NewAccount("empty-password", ""),
        NewAccount("nul-password", "a\0b"),
        new("a@b"),
        new(""),
        new("valid-one"),  # twice in the same request
        new("valid-two"),
    ]
    progress: list[tuple[int, int]] = []
    results = asyncio.run(
        create_accounts(layout, accounts, progress=lambda *args: progress.append(args))
    )
    outcomes = [result.outcome for result in results]
    assert outcomes == [
        Outcome.CREATED,
        Outcome.FAILED,
        Outcome.FAILED,
        Outcome.FAILED,
        Outcome.FAILED,
        Outcome.FAILED,
        Outcome.FAILED,
        Outcome.FAILED,
        Outcome.CREATED,
    ]
    reasons = [result.reason for result in results]
    assert "not a valid XMPP user name" in reasons[1]
    assert "'capital'" in reasons[2]
    assert "empty" in reasons[3]
    assert "NUL" in reasons[4]
    assert "more than once" in reasons[7]
    assert progress == [(done, 9) for done in range(1, 10)]
    existing = asyncio.run(existing_accounts(layout))
    assert {"valid-one", "valid-two"} <= existing
    assert not {"capital", "empty-password", "nul-password"} & existing


def test_unicode_and_longest_localparts_are_stored_exactly(prosody: RunningProsody) -> None:
    layout = prosody.layout
    usernames = ["Zoë Петрова", "山田 太郎", "עִבְרִית", "ΆΝΝΑ", "x" * 5000, "名前" * 50, "क्षि" * 40]
    localparts = [localpart_for(username, taken=()) for username in usernames]
    accounts = [
        new(localpart, username) for localpart, username in zip(localparts, usernames, strict=True)
    ]
    results = create(layout, *accounts)
    assert [result.outcome for result in results] == [Outcome.CREATED] * len(accounts), results
    assert set(localparts) <= asyncio.run(existing_accounts(layout))

    async def logins() -> list[bool]:
        return [
            await can_log_in(layout, prosody.jid(account.localpart), account.password)
            for account in (accounts[0], accounts[4], accounts[5])
        ]

    assert asyncio.run(logins()) == [True, True, True]


def test_the_storage_limit_of_localparts_is_real(prosody: RunningProsody) -> None:
    """Why localparts stop at MAX_STORED_NAME_LENGTH: Prosody's internal storage cannot save
    an account whose file name ("<encoded localpart>.dat~") passes 255 bytes."""
    at_limit, over = "y" * MAX_STORED_NAME_LENGTH, "y" * 251
    results = create(prosody.layout, new(at_limit), new(over))
    assert results[0].created
    assert results[1].outcome is Outcome.FAILED
    assert "Error saving to storage" in results[1].reason


def test_bulk_creation_is_fast(prosody: RunningProsody) -> None:
    """200 accounts with display names, one admin connection (prosodyctl: ~55 ms each)."""
    accounts = [new(f"timed{index}", f"Timed User {index}") for index in range(200)]
    started = time.perf_counter()
    results = create(prosody.layout, *accounts)
    per_account = (time.perf_counter() - started) / len(accounts)
    print(f"\nbulk creation: {per_account * 1000:.1f} ms per account (200, with names)")
    assert all(result.created for result in results)
    assert per_account < 0.040


# --- passwords, deletion ----------------------------------------------------------------------


def test_set_password(prosody: RunningProsody) -> None:
    layout = prosody.layout
    account = new("changer")
    create(layout, account)
    replacement = generate_password()

    async def scenario() -> tuple[bool, bool, bool]:
        async with logged_in(layout, prosody.jid("changer"), account.password) as client:
            await set_password(layout, localpart="changer", password=replacement)
            # Prosody closes the sessions of an account whose password changed.
            await asyncio.wait_for(client.ended.wait(), TIMEOUT)
        return (
            await can_log_in(layout, prosody.jid("changer"), account.password),
            await can_log_in(layout, prosody.jid("changer"), replacement),
            client.ended.is_set(),
        )

    assert asyncio.run(scenario()) == (False, True, True)


def test_set_password_of_a_missing_account(prosody: RunningProsody) -> None:
    password = "Missing-Account-Password-42"
    with pytest.raises(AccountNotFoundError) as raised:
        asyncio.run(set_password(prosody.layout, localpart="nobody", password=password))
    assert f"nobody@{prosody.domain}" in str(raised.value)
    assert password not in str(raised.value)


def test_set_password_refuses_bad_input(prosody: RunningProsody) -> None:
    for localpart, password in (("a b", "secret"), ("changer", ""), ("changer", "x\0y")):
        with pytest.raises(ProvisioningError):
            asyncio.run(set_password(prosody.layout, localpart=localpart, password=password))


def test_delete_account(prosody: RunningProsody, viewer: tuple[str, str]) -> None:
    layout = prosody.layout
    account = new("leaver", "Leaving Soon")
    create(layout, account)

    async def scenario() -> tuple[bool, bool, bool, set[str]]:
        async with logged_in(layout, prosody.jid("leaver"), account.password) as client:
            deleted = await delete_account(layout, localpart="leaver")
            await asyncio.wait_for(client.ended.wait(), TIMEOUT)  # its session is closed
        return (
            deleted,
            await can_log_in(layout, prosody.jid("leaver"), account.password),
            await delete_account(layout, localpart="leaver"),
            await existing_accounts(layout),
        )

    deleted, can_still_log_in, deleted_again, existing = asyncio.run(scenario())
    assert deleted is True
    assert can_still_log_in is False
    assert deleted_again is False
    assert "leaver" not in existing

    # Its data went with it: a new account of the same name starts without a vCard name.
    create(layout, new("leaver"))

    async def name_of_new_leaver() -> str:
        async with logged_in(layout, *viewer) as watcher:
            vcard = await fetch_vcard_temp(watcher, prosody.jid("leaver"))
            assert await fetch_nickname(watcher, prosody.jid("leaver")) is None
        return text_of(vcard, "FN")

    assert asyncio.run(name_of_new_leaver()) == ""


# --- display names ----------------------------------------------------------------------------


def test_display_name_is_seen_by_other_clients(
    prosody: RunningProsody, viewer: tuple[str, str]
) -> None:
    layout = prosody.layout
    full_name = "Inès Moreau-Lefèvre <Régie>"
    named = new("named", full_name)
    create(layout, named)

    async def scenario() -> tuple[str, str, str, str, str | None]:
        async with logged_in(layout, *viewer) as watcher:
            # vcard-temp (XEP-0054): what Converse.js and Gajim fetch.
            vcard = await fetch_vcard_temp(watcher, prosody.jid("named"))
            # vCard 4 (XEP-0292), straight from the PEP node.
            vcard4 = await fetch_vcard4(watcher, prosody.jid("named"))
            # User Nickname (XEP-0172), in PEP, readable by every user of the server.
            nickname = await fetch_nickname(watcher, prosody.jid("named"))
        return (
            text_of(vcard, "FN"),
            text_of(vcard, "NICKNAME"),
            text_of(vcard4, "fn/text", VCARD4_NS),
            text_of(vcard4, "nickname/text", VCARD4_NS),
            nickname,
        )

    assert asyncio.run(scenario()) == (full_name,) * 5


def test_set_display_name_replaces_the_name_and_keeps_the_rest(
    prosody: RunningProsody, viewer: tuple[str, str]
) -> None:
    layout = prosody.layout
    account = new("renamed", "Old Name")
    create(layout, account)

    async def scenario() -> tuple[str, str, str, str | None]:
        # The user edits their own vCard (an e-mail address) in their client…
        async with logged_in(layout, prosody.jid("renamed"), account.password) as owner:
            own = await fetch_vcard_temp(owner, prosody.jid("renamed"))
            assert text_of(own, "FN") == "Old Name"
            await publish_own_vcard_temp(
                owner, full_name="Old Name", email="renamed@theatre.example"
            )
        # … then the back office renames them.
        await set_display_name(layout, localpart="renamed", full_name="  New\tName\u200b  ")
        async with logged_in(layout, *viewer) as watcher:
            vcard = await fetch_vcard_temp(watcher, prosody.jid("renamed"))
            nickname = await fetch_nickname(watcher, prosody.jid("renamed"))
        return (
            text_of(vcard, "FN"),
            text_of(vcard, "NICKNAME"),
            text_of(vcard, "EMAIL/USERID"),
            nickname,
        )

    assert asyncio.run(scenario()) == (
        "New Name",
        "New Name",
        "renamed@theatre.example",
        "New Name",
    )


def test_set_display_name_errors(prosody: RunningProsody) -> None:
    with pytest.raises(AccountNotFoundError, match="nobody"):
        asyncio.run(set_display_name(prosody.layout, localpart="nobody", full_name="Nobody"))
    create(prosody.layout, new("nameless"))
    with pytest.raises(ProvisioningError, match="empty"):
        asyncio.run(set_display_name(prosody.layout, localpart="nameless", full_name=" \x00 "))


def test_clean_display_name() -> None:
    assert clean_display_name("  Inès \t Moreau\n") == "Inès Moreau"
    assert clean_display_name("A\x00B\x1bC\u200bD\ufeff") == "ABCD"
    assert clean_display_name("e\u0301") == "é"
    assert clean_display_name("\U0001f3ad Théâtre") == "\U0001f3ad Théâtre"
    assert clean_display_name("\x07") == ""


# --- secrets ------------------------------------------------------------------------------------


def test_passwords_are_never_logged_nor_in_errors(
    prosody: RunningProsody, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    layout = prosody.layout
    good = NewAccount("secretive", "Good-Password-Marker-1", "Secretive")
    # SASLprep refuses control characters: Prosody itself refuses these passwords.
    bad = NewAccount("refused", "Bad-Password-Marker-2\x07", "Refused")
    new_bad = "New-Bad-Password-Marker-3\x07"
    missing = "Missing-Password-Marker-4"
    results = create(layout, good, bad)
    assert [result.outcome for result in results] == [Outcome.CREATED, Outcome.FAILED]
    assert "SASLprep" in results[1].reason

    errors: list[str] = [results[1].reason]
    with pytest.raises(ProvisioningError) as refused:
        asyncio.run(set_password(layout, localpart="secretive", password=new_bad))
    assert "SASLprep" in str(refused.value)
    errors.append(str(refused.value))
    with pytest.raises(AccountNotFoundError) as not_found:
        asyncio.run(set_password(layout, localpart="nobody", password=missing))
    errors.append(str(not_found.value))
    asyncio.run(set_password(layout, localpart="secretive", password="Changed-Marker-5"))

    assert caplog.records  # something was logged at all
    everything = caplog.text + "\n".join(errors) + repr(good) + repr(bad) + str(good)
    for marker in ("Marker-1", "Marker-2", "Marker-3", "Marker-4", "Marker-5"):
        assert marker not in everything


def test_lost_connection_fails_the_remaining_accounts(tmp_path: Path) -> None:
    """Prosody stops in the middle of a bulk creation: no exception, every account has a
    result, the created ones exist, and those never sent are failed and absent."""
    layout = make_layout(tmp_path / "prosody")
    accounts = [new(f"lost{index}") for index in range(40)]
    stop_after = 5
    # When the 5th answer is in, at most PIPELINE_DEPTH more commands have been sent.
    never_sent = stop_after + PIPELINE_DEPTH
    progress: list[int] = []
    loop = LoopThread("lost-connection-prosody")
    supervisor, restarted = ProsodySupervisor(layout), ProsodySupervisor(layout)

    def on_progress(done: int, total: int) -> None:
        progress.append(done)
        if done == stop_after:  # blocks this event loop until Prosody has exited
            loop.run(supervisor.stop())

    try:
        loop.run(supervisor.start())
        results = asyncio.run(create_accounts(layout, accounts, progress=on_progress))
        loop.run(restarted.start())
        existing = asyncio.run(existing_accounts(layout))
    finally:
        loop.run(supervisor.stop())
        loop.run(restarted.stop())
        loop.close()

    assert progress == list(range(1, 41))
    assert len(results) == 40
    assert all(result.created for result in results[:stop_after])
    assert all(result.outcome is Outcome.FAILED for result in results[never_sent:])
    # Once the loss is noticed, commands are no longer sent (before, a few may have been
    # written to the dead socket: for those the reason cannot be sure).
    assert results[-1].reason.startswith("not sent to Prosody: "), results[-1].reason
    not_sent = {result.localpart for result in results if "not sent" in result.reason}
    for result in results:
        if result.outcome is Outcome.FAILED:
            assert result.localpart in not_sent or "may or may not" in result.reason
        assert not any(account.password in result.reason for account in accounts)
    assert {result.localpart for result in results if result.created} <= existing
    assert not {result.localpart for result in results[never_sent:]} & existing
    assert not not_sent & existing


def test_server_not_running(tmp_path: Path) -> None:
    layout = make_layout(tmp_path / "prosody")
    with pytest.raises(AdminSocketMissingError, match="evim xmpp start"):
        asyncio.run(create_accounts(layout, [new("someone")]))
    with pytest.raises(AdminSocketMissingError):
        asyncio.run(set_password(layout, localpart="someone", password="secret-value"))
    with pytest.raises(AdminShellError):
        asyncio.run(existing_accounts(layout))


def test_one_provisioner_for_several_operations(prosody: RunningProsody) -> None:
    async def scenario() -> tuple[list[Outcome], bool, set[str]]:
        async with Provisioner.open(prosody.layout) as provisioner:
            results = await provisioner.create_many([new("multi1"), new("multi2")])
            await provisioner.set_display_name(localpart="multi1", full_name="Multi One")
            deleted = await provisioner.delete(localpart="multi2")
            return [result.outcome for result in results], deleted, await provisioner.existing()

    outcomes, deleted, existing = asyncio.run(scenario())
    assert outcomes == [Outcome.CREATED, Outcome.CREATED]
    assert deleted
    assert "multi1" in existing and "multi2" not in existing


def test_no_accounts(prosody: RunningProsody) -> None:
    calls: list[tuple[int, int]] = []
    results = asyncio.run(
        create_accounts(prosody.layout, [], progress=lambda *args: calls.append(args))
    )
    assert results == [] and calls == []
