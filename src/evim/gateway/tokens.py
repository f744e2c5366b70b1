"""One-time tokens: what the browser gets instead of the Jabber password.

``issue_token`` is called by the credentials view (Converse.js's ``credentials_url``);
``redeem_token`` by the gateway when the browser authenticates.  A token is valid once,
for ``settings.EVIM_GATEWAY_TOKEN_SECONDS``, for the user and back-office session it was
issued to.  Only its SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from evim.gateway.models import GatewayToken

TOKEN_PREFIX = "evim-token:"  # noqa: S105 (a prefix, not a secret)


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def issue_token(*, user_id: int, session_key: str) -> str:
    token = new_token()
    store_token(token, user_id=user_id, session_key=session_key)
    return token


def store_token(token: str, *, user_id: int, session_key: str) -> None:
    """Make ``token`` valid for this user and session (until redeemed or expired)."""
    now = timezone.now()
    GatewayToken.objects.filter(expires__lt=now).delete()  # keep the table small
    GatewayToken.objects.create(
        token_hash=_hash(token),
        user_id=user_id,
        session_hash=_hash(session_key),
        expires=now + timedelta(seconds=settings.EVIM_GATEWAY_TOKEN_SECONDS),
    )


@transaction.atomic
def redeem_token(token: str, *, user_id: int, session_key: str) -> bool:
    """True once for a valid token of this user and session; the token is then spent."""
    if not token.startswith(TOKEN_PREFIX):
        return False
    found = GatewayToken.objects.select_for_update().filter(token_hash=_hash(token)).first()
    if found is None:
        return False
    found.delete()  # spent whatever the outcome: a token is tried once
    return (
        found.user_id == user_id
        and secrets.compare_digest(found.session_hash, _hash(session_key))
        and found.expires > timezone.now()
    )
