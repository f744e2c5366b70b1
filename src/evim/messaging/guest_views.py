"""Guest links (anonymous mode): the administrators' page (make, list, revoke) and the
guest's page ``/guest/<token>/`` (a nickname, then the chat of one room).  The rules are in
``evim.messaging.guests``; the guest's stream in ``evim.gateway.guests``."""

from __future__ import annotations

import secrets
from functools import wraps
from typing import Any, cast

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from evim.backoffice.decorators import View, administrator_required
from evim.backoffice.requests import current_user
from evim.messaging import converse, guests
from evim.messaging.models import GuestLink


def anonymous_mode_on(view: View) -> View:
    """404 unless guests may come (messaging on, managed server, anonymous mode on)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not guests.anonymous_mode_available():
            raise Http404
        return view(request, *args, **kwargs)

    return cast(View, wrapper)


class GuestLinkForm(forms.Form):
    room = forms.CharField(
        label=gettext_lazy("Room"),
        max_length=3071,
        help_text=gettext_lazy("The room's address, as name@conference.example.org."),
    )
    days = forms.IntegerField(
        label=gettext_lazy("Valid for (days)"),
        min_value=1,
        max_value=guests.MAX_DAYS,
        initial=7,
    )
    note = forms.CharField(
        label=gettext_lazy("For"),
        max_length=120,
        required=False,
        help_text=gettext_lazy("Who the link is for, as a reminder (the guest does not see it)."),
    )

    def clean_room(self) -> str:
        try:
            return guests.check_room(self.cleaned_data["room"])
        except guests.GuestLinkError as error:
            raise forms.ValidationError(str(error)) from None


@administrator_required
@anonymous_mode_on
@require_http_methods(["GET", "POST"])
def guest_links(request: HttpRequest) -> HttpResponse:
    """The guest links: make one (its address is shown once), list them, revoke them."""
    form = GuestLinkForm(request.POST or None)
    created_url = None
    if request.method == "POST" and form.is_valid():
        made = guests.do_create_guest_link(
            acting_user=current_user(request),
            room=form.cleaned_data["room"],
            days=form.cleaned_data["days"],
            note=form.cleaned_data["note"],
        )
        created_url = request.build_absolute_uri(
            reverse("guest:page", kwargs={"token": made.token})
        )
        form = GuestLinkForm(initial={"room": made.link.room})
    now = timezone.now()
    links = [
        {
            "link": link,
            "state": "revoked" if link.revoked else ("expired" if link.expires <= now else "valid"),
        }
        for link in GuestLink.objects.select_related("created_by")[:200]
    ]
    return render(
        request,
        "messaging/guest_links.html",
        {
            "form": form,
            "links": links,
            "created_url": created_url,
            "anonymous_host": guests.anonymous_host(),
        },
    )


@administrator_required
@anonymous_mode_on
@require_POST
def guest_link_revoke(request: HttpRequest, link_id: int) -> HttpResponse:
    link = get_object_or_404(GuestLink, pk=link_id)
    if guests.do_revoke_guest_link(acting_user=current_user(request), link=link):
        messages.success(
            request,
            _("The link to %(room)s is revoked: its guests' chats end now.") % {"room": link.room},
        )
    return redirect("messaging:guest_links")


# --- the guest's side -----------------------------------------------------------------------


class NicknameForm(forms.Form):
    nickname = forms.CharField(
        label=gettext_lazy("Your name in the room"),
        max_length=200,
        strip=False,
    )

    def clean_nickname(self) -> str:
        try:
            return guests.check_nickname(self.cleaned_data["nickname"])
        except guests.GuestLinkError as error:
            raise forms.ValidationError(str(error)) from None


def _unusable(request: HttpRequest, link: GuestLink | None) -> HttpResponse:
    """The page of a link that does not work (unknown, expired or revoked): say so."""
    state = "unknown" if link is None else ("revoked" if link.revoked else "expired")
    return render(request, "messaging/guest_unusable.html", {"state": state}, status=410)


@login_not_required
@never_cache
@anonymous_mode_on
@require_http_methods(["GET", "POST"])
def guest_page(request: HttpRequest, token: str) -> HttpResponse:
    link = guests.link_for_token(token)
    if link is None or not guests.link_usable(link):
        return _unusable(request, link)
    chosen: dict[str, Any] = request.session.get(guests.SESSION_KEY, {})
    nickname = (chosen.get(str(link.pk)) or {}).get("nickname")
    form = NicknameForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            chosen = {
                **chosen,
                str(link.pk): {
                    "nickname": form.cleaned_data["nickname"],
                    "language": translation.get_language() or settings.LANGUAGE_CODE,
                },
            }
            request.session[guests.SESSION_KEY] = chosen
            return redirect("guest:page", token=token)
        nickname = None
    if not nickname:
        return render(request, "messaging/guest_nickname.html", {"form": form, "link": link})
    language = (translation.get_language() or settings.LANGUAGE_CODE)[:2]
    config = {
        "script": static(converse.SCRIPT),
        "stylesheet": static(converse.STYLESHEET),
        "assets_path": converse.assets_path(),
        "language": language,
        "credentials_url": reverse("guest:credentials", kwargs={"token": token}),
        "websocket_path": f"{guests.GUEST_WEBSOCKET_PATH}?link={link.pk}",
        "room": link.room,
        "nickname": nickname,
        "texts": {
            "not_connected": _(
                "The chat is not connected. It connects by itself as soon as it can."
            ),
            "ended": _(
                "This chat has ended: the link no longer works. Ask the person who sent it to "
                "you for a new one."
            ),
        },
    }
    return render(
        request, "messaging/guest_chat.html", {"chat": config, "link": link, "nickname": nickname}
    )


@login_not_required
@never_cache
@require_GET
def guest_credentials(request: HttpRequest, token: str) -> JsonResponse:
    """Converse's ``credentials_url`` on a guest's page: a placeholder address on the
    anonymous host (the server gives the real one) and a one-time token, for this link and
    this browser session only."""
    if not guests.anonymous_mode_available():
        return JsonResponse({"error": _("Guests cannot chat here any more.")}, status=404)
    link = guests.link_for_token(token)
    session_key = request.session.session_key
    chosen = request.session.get(guests.SESSION_KEY, {})
    if (
        link is None
        or not guests.link_usable(link)
        or session_key is None
        or str(link.pk) not in chosen
    ):
        return JsonResponse({"error": _("This guest link no longer works.")}, status=403)
    password = guests.issue_guest_token(link=link, session_key=session_key)
    host = guests.anonymous_host()
    return JsonResponse(
        {"jid": f"guest@{host}/evim-guest-{secrets.token_hex(4)}", "password": password}
    )
