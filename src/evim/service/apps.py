from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ServiceConfig(AppConfig):
    """The messaging service's settings (the original's Jappix manager)."""

    name = "evim.service"
    label = "service"
    verbose_name = _("Messaging service")

    def ready(self) -> None:
        from evim.service import backoffice_parts, checks  # noqa: F401

        backoffice_parts.register()
