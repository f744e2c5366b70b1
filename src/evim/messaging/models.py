from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class JabberAccount(models.Model):
    """The Jabber account of one back-office user (e-venement's ``jabber`` table).

    The password is stored encrypted (``evim.messaging.encryption``), never in clear.
    """

    class Kind(models.TextChoices):
        MANAGED = "managed", _("managed server")
        EXTERNAL = "external", _("external server")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="jabber_account",
    )
    jid = models.CharField(_("Jabber address"), max_length=2047, unique=True)
    password_encrypted = models.TextField(editable=False)
    kind = models.CharField(_("server"), max_length=16, choices=Kind.choices)
    created = models.DateTimeField(_("created"), auto_now_add=True)
    updated = models.DateTimeField(_("updated"), auto_now=True)
    # The last connection test: when, its outcome (evim.xmpp.connection_test.Outcome) and a
    # technical detail for administrators (never a secret).
    last_test_at = models.DateTimeField(_("last test"), null=True, blank=True)
    last_test_outcome = models.CharField(max_length=32, blank=True)
    last_test_detail = models.CharField(max_length=500, blank=True)

    class Meta:
        verbose_name = _("Jabber account")
        verbose_name_plural = _("Jabber accounts")
        ordering = ("user__last_name", "user__first_name", "user__username")

    def __str__(self) -> str:
        return self.jid

    @property
    def localpart(self) -> str:
        return self.jid.rpartition("@")[0]


class MessagingPreferences(models.Model):
    """Choices of the administrators about messaging (one row)."""

    self_service = models.BooleanField(
        _("self-service"),
        default=False,
        help_text=_("Users may set their own Jabber account (on another server) in their profile."),
    )

    class Meta:
        verbose_name = _("messaging preferences")

    def __str__(self) -> str:
        return "messaging preferences"

    @classmethod
    def current(cls) -> MessagingPreferences:
        preferences, _created = cls.objects.get_or_create(pk=1)
        return preferences


class ChatPreferences(models.Model):
    """Choices of one user about their chat (a row once they change something)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="chat_preferences",
    )
    desktop_notifications = models.BooleanField(
        _("desktop notifications"),
        default=False,
        help_text=_(
            "A notification on the computer's desktop for each direct message and each "
            "mention in a room, while the chat is not in view."
        ),
    )

    class Meta:
        verbose_name = _("chat preferences")
        verbose_name_plural = _("chat preferences")

    def __str__(self) -> str:
        return f"chat preferences of {self.user_id}"

    @classmethod
    def of(cls, user: models.Model) -> ChatPreferences:
        """The user's preferences (defaults, unsaved, until they change one)."""
        found = cls.objects.filter(user_id=user.pk).first()
        return found if found is not None else cls(user_id=user.pk)


class RoomChoice(models.Model):
    """A user's answer to a room the chat offered them (the service's "suggest rooms")."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="room_choices",
    )
    room = models.CharField(_("room"), max_length=3071)
    joined = models.BooleanField(_("joined"))
    decided = models.DateTimeField(_("decided"), auto_now=True)

    class Meta:
        verbose_name = _("room choice")
        verbose_name_plural = _("room choices")
        constraints = [
            models.UniqueConstraint(fields=["user", "room"], name="one_choice_per_user_and_room")
        ]

    def __str__(self) -> str:
        return f"{self.room}: {'joined' if self.joined else 'skipped'}"


class GuestLink(models.Model):
    """A link an administrator sends to a guest (anonymous mode): it opens one room, under
    a nickname, until it expires or is revoked.  Only the SHA-256 of its secret part is
    stored: the link itself is shown once, when it is made (``evim.messaging.guests``)."""

    room = models.CharField(_("room"), max_length=3071)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    #: Who it is for (a reminder for the staff, never shown to the guest).
    note = models.CharField(_("for"), max_length=120, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("made by"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created = models.DateTimeField(_("made"), auto_now_add=True)
    expires = models.DateTimeField(_("expires"), db_index=True)
    revoked = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        verbose_name = _("guest link")
        verbose_name_plural = _("guest links")
        ordering = ("-created", "-id")

    def __str__(self) -> str:
        return f"guest link {self.pk} to {self.room}"


class GuestToken(models.Model):
    """A one-time token a guest's page gets for the chat, as back-office pages get a
    ``gateway.GatewayToken``: for one guest link and one browser session, for seconds;
    only its hash is stored."""

    token_hash = models.CharField(max_length=64, unique=True)
    link = models.ForeignKey(GuestLink, on_delete=models.CASCADE, related_name="+")
    session_hash = models.CharField(max_length=64)
    expires = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"guest token of link {self.link_id}"


class AccountEvent(models.TextChoices):
    """Audit events of the messaging module (rows of backoffice.AuditEntry)."""

    ACCOUNT_CREATED = "jabber_account_created", _("Jabber account created")
    ACCOUNT_CHANGED = "jabber_account_changed", _("Jabber account changed")
    ACCOUNT_DELETED = "jabber_account_deleted", _("Jabber account deleted")
    ACCOUNT_PROVISIONED = "jabber_account_provisioned", _("account created on the managed server")
    ACCOUNT_TESTED = "jabber_account_tested", _("Jabber account tested")
    SELF_SERVICE_CHANGED = "self_service_changed", _("self-service changed")
    KEYS_ROTATED = "account_keys_rotated", _("encryption key rotated")
    CHAT_PREFERENCES_CHANGED = "chat_preferences_changed", _("chat preferences changed")
    ROOM_CHOSEN = "room_chosen", _("offered room joined or skipped")
    GUEST_LINK_CREATED = "guest_link_created", _("guest link made")
    GUEST_LINK_REVOKED = "guest_link_revoked", _("guest link revoked")
