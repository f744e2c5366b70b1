from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from evim.backoffice.decorators import administrator_required
from evim.backoffice.requests import current_user
from evim.service import actions
from evim.service.current import defaults, service
from evim.service.forms import ServiceSettingsForm
from evim.service.options import BY_NAME


@administrator_required
@require_http_methods(["GET", "POST"])
def service_settings(request: HttpRequest) -> HttpResponse:
    form = ServiceSettingsForm(request.POST or None, values=service())
    if request.method == "POST" and form.is_valid():
        changed = actions.do_change_service_settings(
            acting_user=current_user(request), values=form.cleaned_data
        )
        if not changed:
            messages.info(request, _("Nothing changed."))
        else:
            labels = ", ".join(str(BY_NAME[name].label) for name in changed)
            messages.success(request, _("Saved: %(options)s.") % {"options": labels})
            later = actions.needing_restart(changed)
            if later:
                messages.warning(
                    request,
                    _("Restart evim for these to take effect: %(options)s.")
                    % {"options": ", ".join(str(BY_NAME[name].label) for name in later)},
                )
        return redirect("service:settings")
    return render(
        request,
        "service/settings.html",
        {"form": form, "sections": form.sections(defaults())},
    )
