from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _


class User(AbstractUser):
    """A back-office user (e-venement's sf_guard_user).

    Administrators are superusers: they manage users and the messaging settings.
    """

    language = models.CharField(
        _("language"),
        max_length=8,
        choices=settings.LANGUAGES,
        default=settings.LANGUAGE_CODE,
        help_text=_("Language of the back office and of the chat."),
    )

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        ordering = ("last_name", "first_name", "username")

    def __str__(self) -> str:
        return self.get_full_name() or self.username

    @property
    def is_administrator(self) -> bool:
        return self.is_active and self.is_superuser


class AuditEntry(models.Model):
    """Who changed what, and when.  Never holds a secret."""

    class Event(models.TextChoices):
        USER_CREATED = "user_created", _("user created")
        USER_CHANGED = "user_changed", _("user changed")
        USER_DELETED = "user_deleted", _("user deleted")
        PASSWORD_CHANGED = "password_changed", _("password changed")

    created = models.DateTimeField(_("date"), auto_now_add=True, db_index=True)
    acting_user = models.ForeignKey(
        User, verbose_name=_("by"), null=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Each app names its own events (backoffice: AuditEntry.Event; messaging: AccountEvent).
    event = models.CharField(_("event"), max_length=40, db_index=True)
    # Kept as text: the entry must outlive the user it is about.
    subject = models.CharField(_("about"), max_length=150)
    changes = models.JSONField(_("changes"), default=dict, blank=True)

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit entries")
        ordering = ("-created", "-id")

    def __str__(self) -> str:
        return f"{self.created:%Y-%m-%d %H:%M} {self.event} {self.subject}"
