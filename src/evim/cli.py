"""The ``evim`` console script: Django's command line with evim's settings.

``evim run``, ``evim demo`` and ``evim xmpp start|stop|status`` are management commands
of evim's apps; every Django command (``evim migrate``, ``evim check --deploy``...) works
too.  Configuration mistakes end with one clear line, not a traceback.
"""

from __future__ import annotations

import os
import sys

from django.core.exceptions import ImproperlyConfigured

from evim.lib.errors import EvimError


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv if argv is None else argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evim.settings")
    if argv[1:2] == ["demo"]:
        # The demo is a preset environment: its own data directory, project.yml, structure.
        from evim.backoffice.demo import ENVIRONMENT_DEFAULTS

        for name, value in ENVIRONMENT_DEFAULTS.items():
            os.environ.setdefault(name, value)
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(argv)
    except (ImproperlyConfigured, EvimError) as error:
        print(f"evim: error: {error}", file=sys.stderr)
        sys.exit(2)
    finally:
        # What the command changed asked for a sync of the spaces in a background thread:
        # let it finish while the interpreter can still run it.
        sync_worker = sys.modules.get("evim.messaging.sync_worker")
        if sync_worker is not None:
            sync_worker.worker.finish_pending()


if __name__ == "__main__":
    main()
