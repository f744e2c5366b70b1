"""What a connection test's outcome means for an administrator, and what to do next."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from evim.xmpp.connection_test import Outcome


@dataclass(frozen=True)
class OutcomeText:
    label: str | Promise
    advice: str | Promise
    ok: bool = False  # shown as a success


TEXTS: dict[str, OutcomeText] = {
    Outcome.OK: OutcomeText(_("Connected"), _("The account works."), ok=True),
    Outcome.UNKNOWN_HOST: OutcomeText(
        _("Unknown server"),
        _(
            "The server of this address cannot be found. Check the part after @, or set its "
            "address in EVIM_XMPP_ADDRESS_OVERRIDES."
        ),
    ),
    Outcome.REFUSED: OutcomeText(
        _("Connection refused"),
        _(
            "The server refuses connections on this port. Check that it is running and the "
            "port (EVIM_XMPP_ADDRESS_OVERRIDES, or the domain's SRV records)."
        ),
    ),
    Outcome.TLS: OutcomeText(
        _("Encryption failed"),
        _(
            "The secure connection could not be set up. Check that the server offers "
            "STARTTLS or direct TLS on this port."
        ),
    ),
    Outcome.CERTIFICATE: OutcomeText(
        _("Untrusted certificate"),
        _(
            "The server's certificate is not trusted or not valid for this domain. Install a "
            "valid certificate on the server, or give its CA in EVIM_XMPP_CA_FILE."
        ),
    ),
    Outcome.AUTH: OutcomeText(
        _("Wrong password"),
        _("The server refused this address and password. Set the right password here."),
    ),
    Outcome.TIMEOUT: OutcomeText(
        _("No answer"),
        _(
            "The server did not answer in time. Check that it is reachable from this "
            "machine (firewall), then test again."
        ),
    ),
    Outcome.PROTOCOL: OutcomeText(
        _("Unexpected answer"),
        _("The server answered something unexpected. Its logs may tell more."),
    ),
}


def text_for(outcome: str) -> OutcomeText | None:
    return TEXTS.get(outcome)
