from django.apps import AppConfig
from django.core import checks
from django.utils.translation import gettext_lazy as _


class ManagedServerConfig(AppConfig):
    """The managed XMPP server: a Prosody that evim configures and supervises."""

    name = "evim.managed_server"
    label = "managed_server"
    verbose_name = _("Managed XMPP server")

    def ready(self) -> None:
        from evim.managed_server.checks import check_managed_server

        checks.register(check_managed_server)
