"""Jabber IDs of accounts: validated and normalised per RFC 7622, bare, with messages a
person can act on."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from slixmpp import JID
from slixmpp.jid import InvalidJID

MAX_PART_BYTES = 1023


def normalise_account_jid(text: str) -> str:
    """``text`` as a normalised bare JID ``localpart@domain``, or a ValidationError.

    Normalisation is slixmpp's (RFC 7622: case-folded localpart, IDNA domain), plus the
    removal of a final dot of the domain (RFC 7622 §3.2).
    """
    value = text.strip()
    if not value:
        raise ValidationError(_("Enter a Jabber address such as jeanne@example.org."), "empty")
    if any(char.isspace() for char in value):
        raise ValidationError(
            _("A Jabber address has no spaces: %(value)s."), "spaces", params={"value": value}
        )
    if "@" not in value:
        raise ValidationError(
            _("%(value)s has no user part: write it as name@%(value)s."),
            "no_localpart",
            params={"value": value},
        )
    local, _at, rest = value.partition("@")
    if not local:
        raise ValidationError(
            _("The part before @ is empty in %(value)s: write the user name there."),
            "empty_localpart",
            params={"value": value},
        )
    if "/" in rest:
        raise ValidationError(
            _(
                "%(value)s names a device (the part after /): give the address without it, "
                "such as %(bare)s."
            ),
            "resource",
            params={"value": value, "bare": f"{local}@{rest.partition('/')[0]}"},
        )
    if len(local.encode()) > MAX_PART_BYTES or len(rest.encode()) > MAX_PART_BYTES:
        raise ValidationError(
            _("This Jabber address is too long: each part may have at most 1023 bytes."),
            "too_long",
        )
    domain = rest[:-1] if rest.endswith(".") else rest
    try:
        jid = JID(f"{local}@{domain}")
    except InvalidJID as error:
        raise ValidationError(
            _("%(value)s is not a valid Jabber address (%(reason)s)."),
            "invalid",
            params={"value": value, "reason": str(error)},
        ) from None
    bare: str = jid.bare
    return bare


def domain_of(jid: str) -> str:
    return jid.rpartition("@")[2]
