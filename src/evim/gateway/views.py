from __future__ import annotations

import functools
import secrets

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from evim.backoffice.models import User
from evim.gateway.hooks import log_in_upstream
from evim.gateway.metrics import METRICS
from evim.gateway.prepared import PREPARED
from evim.gateway.relay import StreamOwner
from evim.gateway.tokens import new_token, store_token
from evim.messaging.chat import chat_account
from evim.messaging.encryption import decrypt_password
from evim.service.current import service


@login_not_required  # answered here: a script gets JSON, not the login page's HTML
@never_cache
@require_GET
def credentials(request: HttpRequest) -> JsonResponse:
    """Converse.js's ``credentials_url``: the user's JID and a one-time token as password.

    The token works once, for seconds, through evim's gateway only, for this back-office
    session only.  The Jabber password itself never leaves the server.
    """
    user = request.user
    if not isinstance(user, User):
        return JsonResponse(
            {"error": gettext("Log in to the back office again to use the chat.")}, status=401
        )
    account = chat_account(user)  # none: messaging disabled, no account, or a locked host
    if account is None or request.session.session_key is None:
        raise Http404
    session_key = request.session.session_key
    token = new_token()
    # The browser opens its stream next: log in upstream meanwhile (see prepared.py),
    # starting before the token is stored, with the password at hand.
    PREPARED.prepare(
        token,
        owner=StreamOwner(user.pk, session_key, account.jid, language=user.language),
        connect=functools.partial(
            log_in_upstream, password=decrypt_password(account.password_encrypted)
        ),
        lifetime=settings.EVIM_GATEWAY_TOKEN_SECONDS,
    )
    store_token(token, user_id=user.pk, session_key=session_key)
    # The resource: the service's prefix, the kind of client, a part unique to this session
    # (several tabs, the bar and the full page, each a session of its own).
    client = "page" if request.GET.get("client") == "page" else "bar"
    resource = f"{service().resource}-{client}-{secrets.token_hex(4)}"
    return JsonResponse({"jid": f"{account.jid}/{resource}", "password": token})


@login_not_required
@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text: for administrators, or scrapers on this machine (loopback)."""
    loopback = request.META.get("REMOTE_ADDR", "") in ("127.0.0.1", "::1")
    if not loopback and not getattr(request.user, "is_administrator", False):
        raise PermissionDenied
    return HttpResponse(METRICS.exposition(), content_type="text/plain; version=0.0.4")
