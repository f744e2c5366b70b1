from __future__ import annotations

from django.conf import settings
from django.db import models


class GatewayToken(models.Model):
    """A one-time token the browser presents instead of the Jabber password.

    Only a hash is stored; the token is bound to one user and one back-office session, and
    lives for seconds.
    """

    token_hash = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    session_hash = models.CharField(max_length=64)
    expires = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"gateway token of user {self.user_id}"


class DailyUsage(models.Model):
    """The gateway's figures of one local day (the service's Statistics option): counts only,
    never a message, an address or a correspondent.  Kept
    :data:`~evim.gateway.daily_usage.KEEP_DAYS` days."""

    day = models.DateField(unique=True)
    websocket_streams = models.PositiveIntegerField(default=0)
    bosh_streams = models.PositiveIntegerField(default=0)
    messages_from_browsers = models.PositiveBigIntegerField(default=0)
    messages_to_browsers = models.PositiveBigIntegerField(default=0)
    #: Distinct users who had a stream that day.
    active_users = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["day"]

    def __str__(self) -> str:
        return f"gateway usage of {self.day}"


class DailyActiveUser(models.Model):
    """Who had a stream on the day in progress, to count each user once that day.  Deleted
    once the day is over (only :attr:`DailyUsage.active_users` stays)."""

    day = models.DateField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "user"], name="gateway_active_user_once_a_day")
        ]

    def __str__(self) -> str:
        return f"user {self.user_id} active on {self.day}"
