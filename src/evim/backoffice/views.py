from __future__ import annotations

import math
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods

from evim.backoffice import actions, login_throttle
from evim.backoffice.decorators import administrator_required
from evim.backoffice.extensions import home_cards, profile_sections, render_parts
from evim.backoffice.forms import ProfileForm, UserCreateForm, UserEditForm
from evim.backoffice.models import User
from evim.backoffice.requests import current_user


class ThrottledAuthenticationForm(AuthenticationForm):
    """Django's login form, refusing attempts after too many failures (login_throttle)."""

    def clean(self) -> dict[str, Any]:
        username = self.data.get("username", "")
        address = self.request.META.get("REMOTE_ADDR", "") if self.request else ""
        wait = login_throttle.seconds_until_allowed(username, address)
        if wait:
            minutes = math.ceil(wait / 60)
            raise forms.ValidationError(
                ngettext(
                    "Too many failed attempts for this login. Try again in %(minutes)d minute, "
                    "or ask an administrator to check your password.",
                    "Too many failed attempts for this login. Try again in %(minutes)d minutes, "
                    "or ask an administrator to check your password.",
                    minutes,
                )
                % {"minutes": minutes},
                code="throttled",
            )
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            login_throttle.record_failure(username, address)
            raise
        login_throttle.forget_failures(username, address)
        return cleaned


class LoginView(auth_views.LoginView):
    template_name = "backoffice/login.html"
    redirect_authenticated_user = True
    authentication_form = ThrottledAuthenticationForm


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "backoffice/home.html", {"cards": render_parts(home_cards, request)})


@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    user = current_user(request)
    form = ProfileForm(request.POST or None, instance=User.objects.get(pk=user.pk))
    if request.method == "POST" and form.is_valid():
        actions.do_update_user(acting_user=user, user=user, **form.cleaned_data)
        # Confirm in the language just chosen, as every following page will be.
        translation.activate(user.language)
        messages.success(request, _("Your profile is saved."))
        return redirect("backoffice:profile")
    return render(
        request,
        "backoffice/profile.html",
        {"form": form, "sections": render_parts(profile_sections, request)},
    )


@require_http_methods(["GET", "POST"])
def password_change(request: HttpRequest) -> HttpResponse:
    user = current_user(request)
    form = PasswordChangeForm(user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        actions.do_change_own_password(user=user, new_password=form.cleaned_data["new_password1"])
        update_session_auth_hash(request, user)
        messages.success(request, _("Your password is changed."))
        return redirect("backoffice:profile")
    return render(request, "backoffice/password_change.html", {"form": form})


@administrator_required
def user_list(request: HttpRequest) -> HttpResponse:
    return render(request, "backoffice/user_list.html", {"users": User.objects.all()})


@administrator_required
@require_http_methods(["GET", "POST"])
def user_create(request: HttpRequest) -> HttpResponse:
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        user = actions.do_create_user(
            acting_user=current_user(request),
            username=data["username"],
            password=data["password1"],
            first_name=data["first_name"],
            last_name=data["last_name"],
            email=data["email"],
            language=data["language"],
            is_administrator=data["is_administrator"],
        )
        messages.success(request, _("User %(name)s created.") % {"name": user})
        return redirect("backoffice:user_list")
    return render(request, "backoffice/user_form.html", {"form": form, "creating": True})


@administrator_required
@require_http_methods(["GET", "POST"])
def user_edit(request: HttpRequest, user_id: int) -> HttpResponse:
    edited = get_object_or_404(User, pk=user_id)
    form = UserEditForm(request.POST or None, instance=edited)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            actions.do_update_user(
                acting_user=current_user(request),
                user=edited,
                new_password=data["password1"] or None,
                username=data["username"],
                first_name=data["first_name"],
                last_name=data["last_name"],
                email=data["email"],
                language=data["language"],
                is_superuser=data["is_administrator"],
                is_active=data["is_active"],
            )
        except actions.LastAdministratorError:
            form.add_error(None, _last_administrator_message())
        else:
            messages.success(request, _("User %(name)s saved.") % {"name": edited})
            return redirect("backoffice:user_list")
    return render(
        request, "backoffice/user_form.html", {"form": form, "edited": edited, "creating": False}
    )


@administrator_required
@require_http_methods(["GET", "POST"])
def user_delete(request: HttpRequest, user_id: int) -> HttpResponse:
    deleted = get_object_or_404(User, pk=user_id)
    error = None
    if deleted.pk == current_user(request).pk:
        error = _("You cannot delete your own account. Ask another administrator.")
    elif request.method == "POST":
        try:
            actions.do_delete_user(acting_user=current_user(request), user=deleted)
        except actions.LastAdministratorError:
            error = _last_administrator_message()
        else:
            messages.success(request, _("User %(name)s deleted.") % {"name": deleted})
            return redirect("backoffice:user_list")
    return render(
        request,
        "backoffice/user_confirm_delete.html",
        {"deleted": deleted, "error": error},
        status=409 if error and request.method == "POST" else 200,
    )


def _last_administrator_message() -> str:
    return _(
        "This is the last active administrator. Make another user administrator first, "
        "so that someone can still manage the back office."
    )
