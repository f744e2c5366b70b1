"""Paramétrage > Général > Messagerie: Jabber accounts of the back-office users."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import wraps
from typing import Any, cast

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST

from evim.backoffice.decorators import View, administrator_required
from evim.backoffice.models import User
from evim.backoffice.requests import current_user
from evim.lib.errors import EvimError
from evim.messaging import actions
from evim.messaging.chat import has_chat, offered_rooms
from evim.messaging.forms import AccountForm, DeleteAccountForm, OwnAccountForm
from evim.messaging.models import JabberAccount, MessagingPreferences
from evim.messaging.outcomes import OutcomeText, text_for
from evim.messaging.project_config import get_messaging_config
from evim.service.current import service
from evim.xmpp.connection_test import ConnectionTestResult, Outcome


def messaging_enabled(view: View) -> View:
    """404 when messaging is disabled: then there is no messaging page at all."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not get_messaging_config().enabled:
            raise Http404
        return view(request, *args, **kwargs)

    return cast(View, wrapper)


def _report_test(
    request: HttpRequest, account: JabberAccount, result: ConnectionTestResult
) -> None:
    text = text_for(result.outcome)
    if result.outcome == Outcome.OK:
        messages.success(request, _("%(jid)s: connected.") % {"jid": account.jid})
    else:
        label = text.label if text else result.outcome
        advice = text.advice if text else result.detail
        messages.error(
            request,
            _("%(jid)s: %(label)s. %(advice)s")
            % {"jid": account.jid, "label": label, "advice": advice},
        )


def _report_error(request: HttpRequest, error: EvimError) -> None:
    messages.error(request, _("The XMPP server refused: %(error)s") % {"error": error})


@dataclass(frozen=True)
class AccountRow:
    account: JabberAccount
    outcome: OutcomeText | None


@administrator_required
@messaging_enabled
def messaging_settings(request: HttpRequest) -> HttpResponse:
    rows = [
        AccountRow(account, text_for(account.last_test_outcome))
        for account in JabberAccount.objects.select_related("user")
    ]
    return render(
        request,
        "messaging/settings.html",
        {
            "config": get_messaging_config(),
            "rows": rows,
            "users_without_account": actions.users_without_account(),
            "preferences": MessagingPreferences.current(),
            "managed": settings.EVIM_XMPP_SERVER == "managed",
            "lock_host": service().lock_host,
            "server": {
                "domain": settings.EVIM_XMPP_DOMAIN,
                "muc_host": settings.EVIM_XMPP_MUC_HOST,
                "host": settings.EVIM_XMPP_HOST,
                "port": settings.EVIM_XMPP_C2S_PORT,
            },
        },
    )


def _maybe_test(request: HttpRequest, account: JabberAccount, wanted: bool) -> None:
    if wanted:
        for tested, result in actions.do_test_accounts(
            acting_user=current_user(request), accounts=[account]
        ):
            _report_test(request, tested, result)


@administrator_required
@messaging_enabled
@require_http_methods(["GET", "POST"])
def account_create(request: HttpRequest) -> HttpResponse:
    form = AccountForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        account = actions.do_create_account(
            acting_user=current_user(request),
            user=data["user"],
            jid=data["jid"],
            password=data["password"],
        )
        messages.success(
            request, _("%(user)s now uses %(jid)s.") % {"user": account.user, "jid": account.jid}
        )
        _maybe_test(request, account, data["test_now"])
        return redirect("messaging:settings")
    return render(request, "messaging/account_form.html", {"form": form, "creating": True})


@administrator_required
@messaging_enabled
@require_http_methods(["GET", "POST"])
def account_edit(request: HttpRequest, account_id: int) -> HttpResponse:
    account = get_object_or_404(JabberAccount.objects.select_related("user"), pk=account_id)
    form = AccountForm(request.POST or None, account=account)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            changed = actions.do_update_account(
                acting_user=current_user(request),
                account=account,
                jid=data["jid"],
                password=data["password"] or None,
            )
        except EvimError as error:
            _report_error(request, error)
        else:
            if changed:
                messages.success(
                    request, _("The account of %(user)s is saved.") % {"user": account.user}
                )
            _maybe_test(request, account, data["test_now"])
            return redirect("messaging:settings")
    return render(
        request,
        "messaging/account_form.html",
        {"form": form, "creating": False, "account": account},
    )


@administrator_required
@messaging_enabled
@require_http_methods(["GET", "POST"])
def account_delete(request: HttpRequest, account_id: int) -> HttpResponse:
    account = get_object_or_404(JabberAccount.objects.select_related("user"), pk=account_id)
    form = DeleteAccountForm(request.POST if request.method == "POST" else None)
    if account.kind != JabberAccount.Kind.MANAGED:
        del form.fields["delete_on_server"]
    if request.method == "POST" and form.is_valid():
        try:
            actions.do_delete_account(
                acting_user=current_user(request),
                account=account,
                delete_on_server=form.cleaned_data.get("delete_on_server", False),
            )
        except EvimError as error:
            _report_error(request, error)
        else:
            messages.success(
                request, _("%(user)s no longer has a Jabber account.") % {"user": account.user}
            )
            return redirect("messaging:settings")
    return render(
        request, "messaging/account_confirm_delete.html", {"form": form, "account": account}
    )


@administrator_required
@messaging_enabled
@require_POST
def account_test(request: HttpRequest, account_id: int) -> HttpResponse:
    account = get_object_or_404(JabberAccount.objects.select_related("user"), pk=account_id)
    _maybe_test(request, account, True)
    return redirect("messaging:settings")


@administrator_required
@messaging_enabled
@require_POST
def account_test_all(request: HttpRequest) -> HttpResponse:
    results = actions.do_test_accounts(
        acting_user=current_user(request),
        accounts=list(JabberAccount.objects.select_related("user")),
    )
    working = sum(1 for _account, result in results if result.outcome == Outcome.OK)
    failing = len(results) - working
    messages.info(
        request,
        ngettext(
            "%(count)d account tested: %(working)d working, %(failing)d failing.",
            "%(count)d accounts tested: %(working)d working, %(failing)d failing.",
            len(results),
        )
        % {"count": len(results), "working": working, "failing": failing},
    )
    return redirect("messaging:settings")


@administrator_required
@messaging_enabled
@require_POST
def account_provision(request: HttpRequest) -> HttpResponseBase:
    """Create accounts on the managed server: for one user, or every user without one.

    For every user, the page streams its progress while the accounts are created.
    """
    if settings.EVIM_XMPP_SERVER != "managed":
        raise Http404
    acting_user = current_user(request)
    user_id = request.POST.get("user", "")
    if not user_id:
        users = actions.users_without_account()
        if not users:
            messages.info(request, _("Every user already has a Jabber account."))
            return redirect("messaging:settings")
        return _stream_provisioning(request, acting_user, users)
    if not user_id.isdigit():
        raise Http404
    user = get_object_or_404(User, pk=int(user_id), is_active=True)
    try:
        report = actions.do_provision_accounts(acting_user=acting_user, users=[user])
    except EvimError as error:
        _report_error(request, error)
        return redirect("messaging:settings")
    for account in report.created:
        messages.success(
            request,
            _("%(user)s now has the account %(jid)s on the managed server.")
            % {"user": account.user, "jid": account.jid},
        )
    for failed_user, reason in report.failed:
        messages.error(
            request,
            _("No account could be created for %(user)s: %(reason)s")
            % {"user": failed_user, "reason": reason},
        )
    return redirect("messaging:settings")


STREAM_MARKER = "<!-- evim:stream -->"


def _stream_provisioning(
    request: HttpRequest, acting_user: User, users: list[User]
) -> StreamingHttpResponse:
    # The page is rendered here, where the database may be read; only the progress and the
    # results are produced while streaming.
    page = render_to_string(
        "messaging/provision.html",
        {"total": len(users), "stream": mark_safe(STREAM_MARKER)},  # noqa: S308 (a constant)
        request=request,
    )
    head, _marker, foot = page.partition(STREAM_MARKER)

    async def chunks() -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        updates: asyncio.Queue[tuple[int, int]] = asyncio.Queue()

        def progress(done: int, total: int) -> None:
            loop.call_soon_threadsafe(updates.put_nowait, (done, total))

        work = asyncio.ensure_future(
            sync_to_async(_provision_and_render)(acting_user, users, progress, request)
        )
        yield head
        while not work.done() or not updates.empty():
            waiting = asyncio.ensure_future(updates.get())
            finished, _pending = await asyncio.wait(
                {waiting, work}, return_when=asyncio.FIRST_COMPLETED
            )
            if waiting in finished:
                done, total = waiting.result()
                yield f'<progress value="{done}" max="{total}">{done}/{total}</progress>\n'
            else:
                waiting.cancel()
        yield await work
        yield foot

    response = StreamingHttpResponse(chunks(), content_type="text/html; charset=utf-8")
    # Proxies must pass each chunk on at once, not wait for the whole page.
    response["X-Accel-Buffering"] = "no"
    response["Cache-Control"] = "no-store"
    return response


def _provision_and_render(
    acting_user: User, users: list[User], progress: actions.Progress, request: HttpRequest
) -> str:
    error = None
    try:
        report = actions.do_provision_accounts(
            acting_user=acting_user, users=users, progress=progress
        )
    except EvimError as failure:
        report, error = actions.ProvisioningReport(), str(failure)
    return render_to_string(
        "messaging/provision_results.html", {"report": report, "error": error}, request=request
    )


@administrator_required
@messaging_enabled
@require_POST
def self_service(request: HttpRequest) -> HttpResponse:
    enabled = request.POST.get("self_service") == "on"
    actions.do_set_self_service(acting_user=current_user(request), enabled=enabled)
    messages.success(
        request,
        _("Users may now set their own Jabber account.")
        if enabled
        else _("Only administrators set Jabber accounts now."),
    )
    return redirect("messaging:settings")


@messaging_enabled
@require_http_methods(["GET", "POST"])
def my_account(request: HttpRequest) -> HttpResponse:
    """Self-service: a user sets their own account (when the administrators allow it)."""
    user = current_user(request)
    if not MessagingPreferences.current().self_service:
        raise PermissionDenied
    account = JabberAccount.objects.filter(user=user).first()
    if account is not None and account.kind == JabberAccount.Kind.MANAGED:
        raise PermissionDenied  # managed accounts are the administrators' business
    form = OwnAccountForm(request.POST or None, account=account)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if account is None:
            if not data["password"]:
                form.add_error("password", _("Enter the password of this account."))
                return render(
                    request, "messaging/my_account.html", {"form": form, "account": account}
                )
            account = actions.do_create_account(
                acting_user=user, user=user, jid=data["jid"], password=data["password"]
            )
        else:
            actions.do_update_account(
                acting_user=user,
                account=account,
                jid=data["jid"],
                password=data["password"] or None,
            )
        _maybe_test(request, account, data["test_now"])
        return redirect("backoffice:profile")
    return render(request, "messaging/my_account.html", {"form": form, "account": account})


@messaging_enabled
@require_POST
def create_my_account(request: HttpRequest) -> HttpResponse:
    """Registration allowed: the profile's “Create my chat account”."""
    user = current_user(request)
    if not actions.may_create_own_account(user):
        raise PermissionDenied
    try:
        account = actions.do_create_own_account(user=user)
    except EvimError as error:
        messages.error(
            request, _("Your chat account was not created: %(error)s") % {"error": error}
        )
    else:
        messages.success(
            request,
            _("Your chat account is ready: %(jid)s. The chat opens on every page.")
            % {"jid": account.jid},
        )
    return redirect("backoffice:profile")


@messaging_enabled
@require_POST
def chat_preferences(request: HttpRequest) -> HttpResponse:
    """The profile page's chat preferences: desktop notifications on or off."""
    user = current_user(request)
    if not has_chat(user):
        raise PermissionDenied
    enabled = request.POST.get("desktop_notifications") == "on"
    if actions.do_set_desktop_notifications(acting_user=user, user=user, enabled=enabled):
        messages.success(
            request,
            _("Desktop notifications are on.") if enabled else _("Desktop notifications are off."),
        )
    return redirect("backoffice:profile")


@messaging_enabled
@require_POST
def room_choice(request: HttpRequest) -> JsonResponse:
    """The chat's answer to an offered room: ``room`` and ``joined`` (1 or 0)."""
    user = current_user(request)
    if not has_chat(user):
        raise PermissionDenied
    room = request.POST.get("room", "")
    joined = request.POST.get("joined")
    if room not in offered_rooms() or joined not in ("0", "1"):
        return JsonResponse(
            {"error": _("Not a room offered to you, or no answer: reload the page.")},
            status=400,
        )
    actions.do_choose_room(user=user, room=room, joined=joined == "1")
    return JsonResponse({"room": room, "joined": joined == "1"})


@messaging_enabled
@require_http_methods(["GET"])
def chat_page(request: HttpRequest) -> HttpResponse:
    """``/im/``: the chat as a full page (Converse's fullscreen view, see messaging.chat)."""
    return render(
        request, "messaging/chat_page.html", {"has_chat": has_chat(current_user(request))}
    )
