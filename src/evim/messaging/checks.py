"""System checks of messaging: ``messaging.E001``, e-venement's project.yml must be usable;
``messaging.E002``, the chat's browser client (Converse.js) must be installed.

At startup ``MessagingConfig.ready()`` already refuses an invalid file (``evim check``
then ends with the same lines as ``evim: error: ...``).  This check reports the file as
the process sees it *now*: after ``override_settings`` in tests, or ``call_command("check")``
in a process that started with a valid file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, register

from evim.managed_server.checks import check_prosody_installed
from evim.messaging import converse
from evim.messaging.project_config import EXAMPLE_FILE, ProjectConfigError, get_messaging_config
from evim.xmpp.checks import check_xmpp_settings


@register()
def check_project_yml(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    if app_configs is not None and not any(app.label == "messaging" for app in app_configs):
        return []
    try:
        get_messaging_config()
    except ProjectConfigError as error:
        hint = f"Correct the file (see {EXAMPLE_FILE}); evim does not start until it is valid."
        return [Error(line, hint=hint, id="messaging.E001") for line in error.errors]
    return []


def _messaging_enabled(app_configs: Sequence[AppConfig] | None) -> bool:
    """Whether checks that need messaging apply: this app checked, its config valid (else
    ``messaging.E001`` says why) and enabled."""
    if app_configs is not None and not any(app.label == "messaging" for app in app_configs):
        return False
    try:
        return get_messaging_config().enabled
    except ProjectConfigError:
        return False


@register()
def check_xmpp_server_available(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[CheckMessage]:
    """With messaging enabled on the managed server, Prosody must be installed."""
    return check_prosody_installed() if _messaging_enabled(app_configs) else []


@register()
def check_converse_installed(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[CheckMessage]:
    """messaging.E002: with messaging enabled, the chat's files must be there."""
    if not _messaging_enabled(app_configs) or converse.installed():
        return []
    return [
        Error(
            f"Converse.js (the chat's browser client) is not installed: "
            f"{settings.EVIM_CONVERSE_DIR} has no converse.min.js.",
            hint=(
                "Run `npm ci --ignore-scripts` at the root of evim's repository "
                "(./scripts/demo and ./scripts/test do), or set EVIM_CONVERSE_DIR to the "
                "dist/ folder of converse.js 14.0.0."
            ),
            id="messaging.E002",
        )
    ]


# evim.xmpp is no Django app of its own: the messaging module, which uses it, registers its
# checks (xmpp.E001: EVIM_XMPP_ADDRESS_OVERRIDES, xmpp.E002: EVIM_XMPP_CA_FILE).
register(check_xmpp_settings)
