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
        from evim.managed_server.reconfigure import on_service_settings_changed
        from evim.service.actions import service_settings_changed

        checks.register(check_managed_server)
        # The running managed Prosody follows the service settings that concern it.
        service_settings_changed.connect(
            on_service_settings_changed, dispatch_uid="managed_server.reconfigure"
        )
