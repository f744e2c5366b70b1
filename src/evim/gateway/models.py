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
