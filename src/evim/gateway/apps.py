from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class GatewayConfig(AppConfig):
    """The XMPP gateway: the browser's stream relayed to the user's server."""

    name = "evim.gateway"
    label = "gateway"
    verbose_name = _("XMPP gateway")

    def ready(self) -> None:
        from evim.gateway import signals  # noqa: F401  (ends streams on logout)
        from evim.gateway.backoffice_parts import register

        register()
