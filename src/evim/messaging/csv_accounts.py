"""Jabber accounts to and from CSV files (``evim accounts import|export``).

Import reads ``username,jid,password`` rows (a header line first); every bad row is
reported with its line number and why, and nothing is imported when any row is bad,
unless the caller chooses to skip bad rows.  Export never writes passwords.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TextIO

from django.core.exceptions import ValidationError

from evim.backoffice.models import User
from evim.lib.progress import TextOutput
from evim.messaging.forms import clean_account_jid
from evim.messaging.models import JabberAccount

IMPORT_COLUMNS = ("username", "jid", "password")
EXPORT_COLUMNS = ("username", "full_name", "jid", "server", "last_test", "last_test_at")


@dataclass(frozen=True)
class ImportRow:
    line: int
    user: User
    jid: str
    password: str


@dataclass(frozen=True)
class BadRow:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


def _messages(error: ValidationError) -> str:
    return " ".join(str(message) for message in error.messages)


def read_import(handle: TextIO) -> tuple[list[ImportRow], list[BadRow]]:
    """Parse and check every row; nothing is written."""
    reader = csv.reader(handle)
    try:
        header = next(reader)
    except StopIteration:
        return [], [
            BadRow(1, f"the file is empty; expected a header line {','.join(IMPORT_COLUMNS)}")
        ]
    except csv.Error as error:
        return [], [BadRow(1, f"not a CSV file ({error})")]
    columns = [name.strip().lower() for name in header]
    if columns[: len(IMPORT_COLUMNS)] != list(IMPORT_COLUMNS):
        return [], [
            BadRow(
                1,
                f"the header is {','.join(header)!r}; expected {','.join(IMPORT_COLUMNS)} "
                "(in this order)",
            )
        ]
    users = {user.username.casefold(): user for user in User.objects.all()}
    mapped = set(JabberAccount.objects.values_list("user_id", flat=True))
    good: list[ImportRow] = []
    bad: list[BadRow] = []
    seen_users: dict[int, int] = {}
    seen_jids: dict[str, int] = {}
    try:
        for fields in reader:
            line = reader.line_num
            if not any(field.strip() for field in fields):
                continue  # blank lines are harmless
            if len(fields) != len(IMPORT_COLUMNS):
                bad.append(
                    BadRow(
                        line,
                        f"{len(fields)} fields; expected {len(IMPORT_COLUMNS)} "
                        f"({','.join(IMPORT_COLUMNS)})",
                    )
                )
                continue
            username, jid_text, password = (field.strip() for field in fields)
            user = users.get(username.casefold())
            if user is None:
                bad.append(BadRow(line, f"no back-office user {username!r}"))
                continue
            if user.pk in mapped:
                bad.append(BadRow(line, f"{username} already has a Jabber account"))
                continue
            if user.pk in seen_users:
                bad.append(BadRow(line, f"{username} is already on line {seen_users[user.pk]}"))
                continue
            try:
                jid = clean_account_jid(jid_text, account=None)
            except ValidationError as error:
                bad.append(BadRow(line, _messages(error)))
                continue
            if jid in seen_jids:
                bad.append(BadRow(line, f"{jid} is already on line {seen_jids[jid]}"))
                continue
            if not password:
                bad.append(BadRow(line, "the password is empty"))
                continue
            seen_users[user.pk] = line
            seen_jids[jid] = line
            good.append(ImportRow(line, user, jid, password))
    except csv.Error as error:
        bad.append(BadRow(reader.line_num, f"unreadable CSV ({error})"))
    return good, bad


def write_export(accounts: Iterable[JabberAccount], handle: TextOutput) -> int:
    writer = csv.writer(handle)
    writer.writerow(EXPORT_COLUMNS)
    count = 0
    for account in accounts:
        writer.writerow(
            [
                account.user.username,
                account.user.get_full_name(),
                account.jid,
                account.kind,
                account.last_test_outcome,
                account.last_test_at.isoformat() if account.last_test_at else "",
            ]
        )
        count += 1
    return count
