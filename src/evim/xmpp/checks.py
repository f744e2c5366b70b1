"""Django system checks for evim's XMPP client settings (``evim check``).

- ``xmpp.E001``: ``EVIM_XMPP_ADDRESS_OVERRIDES`` cannot be parsed (the message names the
  bad item and shows the expected form).
- ``xmpp.E002``: ``EVIM_XMPP_CA_FILE`` is set but is not a readable PEM bundle holding at
  least one certificate.

:func:`check_xmpp_settings` is registered by the messaging app.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error

from evim.xmpp.addresses import parse_overrides
from evim.xmpp.tls import ca_file_problem


def check_xmpp_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    try:
        parse_overrides(settings.EVIM_XMPP_ADDRESS_OVERRIDES)
    except ValueError as error:
        messages.append(
            Error(
                str(error),
                hint=(
                    "Give each domain as domain=host:port (STARTTLS) or "
                    "domain=host:port/direct-tls, separated by commas, e.g. "
                    "'example.org=xmpp.example.org:5222,example.net=[2001:db8::1]:5223/direct-tls'."
                ),
                id="xmpp.E001",
            )
        )
    if settings.EVIM_XMPP_CA_FILE:
        problem = ca_file_problem(Path(settings.EVIM_XMPP_CA_FILE))
        if problem is not None:
            messages.append(
                Error(
                    f"EVIM_XMPP_CA_FILE: {problem}.",
                    hint=(
                        "Give the path of a PEM file holding the CA certificate(s) that sign "
                        "your XMPP servers' certificates, or leave EVIM_XMPP_CA_FILE empty to "
                        "use the system's trust store."
                    ),
                    id="xmpp.E002",
                )
            )
    return messages
