from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MessagingConfig(AppConfig):
    """The messaging module: project.yml's ``messaging`` section, accounts, rooms."""

    name = "evim.messaging"
    label = "messaging"
    verbose_name = _("Messaging")

    def ready(self) -> None:
        # Registered first, so that the check exists even when loading below fails.
        from evim.messaging import backoffice_parts, checks, converse  # noqa: F401
        from evim.messaging.project_config import get_messaging_config

        backoffice_parts.register()

        # The rooms, contacts and bookmarks follow the users (evim.messaging.sync_worker).
        from evim.messaging import sync_worker

        sync_worker.connect()

        # Refuse to start on an invalid project.yml: every entry point (the evim command,
        # the ASGI application, tests) goes through here, and the error (an EvimError)
        # lists every mistake with its line.  A missing file only disables messaging.
        get_messaging_config()
