from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class StoredOption(models.Model):
    """An option an administrator changed (absent: the option has its default)."""

    name = models.CharField(_("option"), max_length=60, primary_key=True)
    value = models.JSONField(_("value"))
    changed = models.DateTimeField(_("changed"), auto_now=True)

    class Meta:
        verbose_name = _("service option")
        verbose_name_plural = _("service options")

    def __str__(self) -> str:
        return self.name
