from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from evim.backoffice.models import User
from evim.messaging.chat import host_locked_out
from evim.messaging.jids import normalise_account_jid
from evim.messaging.models import JabberAccount


def clean_account_jid(value: str, *, account: JabberAccount | None) -> str:
    """A normalised bare JID that the settings allow and no other user has."""
    jid = normalise_account_jid(value)
    if host_locked_out(jid):
        raise forms.ValidationError(
            _("Only addresses of %(domain)s are accepted here (lock host is on)."),
            code="locked_host",
            params={"domain": settings.EVIM_XMPP_DOMAIN},
        )
    holder = JabberAccount.objects.filter(jid=jid).select_related("user")
    if account is not None:
        holder = holder.exclude(pk=account.pk)
    other = holder.first()
    if other is not None:
        raise forms.ValidationError(
            _("%(jid)s is already the account of %(user)s."),
            code="taken",
            params={"jid": jid, "user": other.user},
        )
    return jid


class UserChoiceField(forms.ModelChoiceField[User]):
    def label_from_instance(self, obj: User) -> str:
        return f"{obj} ({obj.username})" if obj.get_full_name() else obj.username


class AccountForm(forms.Form):
    """Create (with ``user``) or edit a mapping; the user of an existing one never changes."""

    user = UserChoiceField(label=_("User"), queryset=User.objects.none())
    jid = forms.CharField(
        label=_("Jabber address"),
        max_length=2047,
        help_text=_("For example jeanne@jabber.example.org."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    password = forms.CharField(
        label=_("Jabber password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    test_now = forms.BooleanField(
        label=_("Test the connection after saving"), required=False, initial=True
    )

    def __init__(self, *args: Any, account: JabberAccount | None = None, **kwargs: Any) -> None:
        self.account = account
        if account is not None:
            kwargs.setdefault("initial", {"jid": account.jid, "test_now": True})
        super().__init__(*args, **kwargs)
        if account is None:
            # Only users without an account, ordered by name.
            user_field = self.fields["user"]
            assert isinstance(user_field, UserChoiceField)
            user_field.queryset = User.objects.filter(
                jabber_account__isnull=True, is_active=True
            ).order_by("last_name", "first_name", "username")
        else:
            del self.fields["user"]  # never reassigned: the original's bug
            self.fields["password"].required = False
            self.fields["password"].help_text = _("Leave blank to keep the current password.")

    def clean_jid(self) -> str:
        return clean_account_jid(self.cleaned_data["jid"], account=self.account)


class OwnAccountForm(forms.Form):
    """Self-service: a user sets their own account on another server."""

    jid = AccountForm.base_fields["jid"]
    password = AccountForm.base_fields["password"]
    test_now = AccountForm.base_fields["test_now"]

    def __init__(self, *args: Any, account: JabberAccount | None = None, **kwargs: Any) -> None:
        self.account = account
        kwargs.setdefault("initial", {"jid": account.jid if account else "", "test_now": True})
        super().__init__(*args, **kwargs)
        if account is not None:
            self.fields["password"].required = False
            self.fields["password"].help_text = _("Leave blank to keep the current password.")

    def clean_jid(self) -> str:
        return clean_account_jid(self.cleaned_data["jid"], account=self.account)


class DeleteAccountForm(forms.Form):
    delete_on_server = forms.BooleanField(
        label=_("Also delete the account on the managed server (its contacts and history)"),
        required=False,
    )
