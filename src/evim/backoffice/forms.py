from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.utils.translation import gettext_lazy as _

from evim.backoffice.models import User


class _PasswordPairMixin(forms.Form):
    """Two password fields that must match and pass Django's password validators."""

    password_required = True

    password1 = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label=_("Password (again)"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["password1"].required = self.password_required
        self.fields["password2"].required = self.password_required

    def password_user(self) -> User:
        """The user the password is checked against (similarity with their name...)."""
        raise NotImplementedError

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        first, second = cleaned.get("password1"), cleaned.get("password2")
        if first or second:
            if first != second:
                self.add_error("password2", _("The two passwords differ. Type the same twice."))
            else:
                try:
                    password_validation.validate_password(first or "", self.password_user())
                except forms.ValidationError as error:
                    self.add_error("password1", error)
        return cleaned


class UserFieldsForm(forms.Form):
    username = forms.CharField(
        label=_("Login"),
        max_length=150,
        validators=[UnicodeUsernameValidator()],
        help_text=_("Letters, digits and @ . + - _ only."),
    )
    first_name = forms.CharField(label=_("First name"), max_length=150, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    email = forms.EmailField(label=_("Email"), required=False)
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)
    is_administrator = forms.BooleanField(
        label=_("Administrator"),
        required=False,
        help_text=_("Administrators manage users and the messaging settings."),
    )
    is_active = forms.BooleanField(
        label=_("Active"),
        required=False,
        initial=True,
        help_text=_("An inactive user can no longer log in."),
    )

    def __init__(self, *args: Any, instance: User | None = None, **kwargs: Any) -> None:
        self.instance = instance
        if instance is not None:
            kwargs.setdefault(
                "initial",
                {
                    "username": instance.username,
                    "first_name": instance.first_name,
                    "last_name": instance.last_name,
                    "email": instance.email,
                    "language": instance.language,
                    "is_administrator": instance.is_superuser,
                    "is_active": instance.is_active,
                },
            )
        super().__init__(*args, **kwargs)

    def clean_username(self) -> str:
        username: str = self.cleaned_data["username"]
        taken = User.objects.filter(username__iexact=username)
        if self.instance is not None:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise forms.ValidationError(
                _("The login %(username)s is already taken. Choose another one."),
                params={"username": username},
                code="taken",
            )
        return username


class UserCreateForm(UserFieldsForm, _PasswordPairMixin):
    def password_user(self) -> User:
        return User(
            username=self.cleaned_data.get("username", ""),
            first_name=self.cleaned_data.get("first_name", ""),
            last_name=self.cleaned_data.get("last_name", ""),
            email=self.cleaned_data.get("email", ""),
        )


class UserEditForm(UserFieldsForm, _PasswordPairMixin):
    password_required = False

    def __init__(self, *args: Any, instance: User, **kwargs: Any) -> None:
        super().__init__(*args, instance=instance, **kwargs)
        self.fields["password1"].label = _("New password")
        self.fields["password1"].help_text = _("Leave blank to keep the current password.")
        self.fields["password2"].label = _("New password (again)")

    def password_user(self) -> User:
        assert self.instance is not None
        return self.instance


class ProfileForm(forms.ModelForm[User]):
    class Meta:
        model = User
        fields = ("first_name", "last_name", "email", "language")
        labels = {
            "first_name": _("First name"),
            "last_name": _("Last name"),
            "email": _("Email"),
            "language": _("Language"),
        }
