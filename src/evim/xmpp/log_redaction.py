"""Keep passwords out of slixmpp's logs.

At DEBUG level slixmpp logs every byte it sends and receives ("SEND: …", "RECV: …"),
SASL exchanges included: with PLAIN, ``<auth>`` carries the password in base64; SCRAM's
messages allow an offline guess of it.  :func:`install` puts a :class:`SaslRedactor` on
every ``slixmpp`` logger (a logger's filters see only the records made on that very
logger, so each one gets it).  The filter

- blanks the content of SASL elements (``auth``, ``response``, ``challenge``, ``success``,
  ``failure``'s text is kept) in any record, always;
- replaces the passwords currently registered with :func:`secrets_hidden` (and their
  base64 and XML-escaped forms) wherever they appear, as a second line of defence.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from xml.sax.saxutils import escape

REDACTED = "[redacted]"
_SASL_ELEMENT = re.compile(
    r"<(?P<tag>(?:\w+:)?(?:auth|response|challenge|success))\b(?P<attrs>[^>]*?)"
    r"(?:/>|>(?P<body>.*?)</(?P=tag)\s*>)",
    re.DOTALL,
)


def _blank_sasl(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group("body") is None:
            return match.group(0)
        return f"<{match['tag']}{match['attrs']}>{REDACTED}</{match['tag']}>"

    return _SASL_ELEMENT.sub(replace, text)


def secret_forms(secret: str, *, username: str = "") -> set[str]:
    """The forms of ``secret`` that could show in a log: as is, XML-escaped, base64 (alone,
    and as SASL PLAIN's ``authzid\\0username\\0password``)."""
    raw = secret.encode("utf-8")
    forms = {secret, escape(secret, {'"': "&quot;", "'": "&apos;"})}
    for blob in (raw, b"\0" + username.encode("utf-8") + b"\0" + raw):
        encoded = base64.b64encode(blob).decode("ascii")
        forms.add(encoded)
        forms.add(encoded.rstrip("="))
    return {form for form in forms if len(form) >= 3}


class SaslRedactor(logging.Filter):
    """The filter; one instance for the process (:data:`REDACTOR`)."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._secrets: Counter[str] = Counter()

    def add(self, forms: set[str]) -> None:
        with self._lock:
            self._secrets.update(forms)

    def remove(self, forms: set[str]) -> None:
        with self._lock:
            self._secrets.subtract(forms)
            self._secrets = +self._secrets  # drop the zero counts

    def redact(self, text: str) -> str:
        text = _blank_sasl(text)
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record: let logging report it as usual
            return True
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


REDACTOR = SaslRedactor()
_installed: set[str] = set()
_install_lock = threading.Lock()


def install() -> None:
    """Put :data:`REDACTOR` on every ``slixmpp`` logger that exists now (idempotent; call it
    after slixmpp's modules and plugins are imported, e.g. once a client exists)."""
    names = [
        name
        for name in list(logging.root.manager.loggerDict)
        if name == "slixmpp" or name.startswith("slixmpp.")
    ]
    with _install_lock:
        for name in names:
            if name not in _installed:
                logging.getLogger(name).addFilter(REDACTOR)
                _installed.add(name)


@contextmanager
def secrets_hidden(secret: str, *, username: str = "") -> Iterator[None]:
    """Within the block, ``secret`` (in every form of :func:`secret_forms`) is replaced by
    ``[redacted]`` in slixmpp's log records."""
    forms = secret_forms(secret, username=username)
    REDACTOR.add(forms)
    try:
        yield
    finally:
        REDACTOR.remove(forms)
