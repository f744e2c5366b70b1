from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BackofficeConfig(AppConfig):
    """The back office: users, login, layout and menu."""

    name = "evim.backoffice"
    label = "backoffice"
    verbose_name = _("Back office")
