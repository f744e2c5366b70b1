from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from evim.backoffice.decorators import administrator_required
from evim.messaging.project_config import get_messaging_config


@administrator_required
def messaging_settings(request: HttpRequest) -> HttpResponse:
    """Paramétrage > Général > Messagerie: what evim reads from project.yml and which server."""
    config = get_messaging_config()
    if not config.enabled:
        # With messaging disabled there is no IM page at all.
        raise Http404
    return render(
        request,
        "messaging/settings.html",
        {
            "config": config,
            "server": {
                "managed": settings.EVIM_XMPP_SERVER == "managed",
                "domain": settings.EVIM_XMPP_DOMAIN,
                "muc_host": settings.EVIM_XMPP_MUC_HOST,
                "host": settings.EVIM_XMPP_HOST,
                "port": settings.EVIM_XMPP_C2S_PORT,
            },
        },
    )
