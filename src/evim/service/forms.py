from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.utils.translation import gettext as _

from evim.service.current import ServiceSettings
from evim.service.options import BY_NAME, DISTINCT_HOSTS, OPTIONS, Effect, Option, Section


@dataclass(frozen=True)
class FieldRow:
    field: forms.BoundField
    option: Option
    default: Any
    on_restart: bool
    read_only: bool = False


@dataclass(frozen=True)
class SectionFields:
    section: Section
    rows: list[FieldRow]


class ServiceSettingsForm(forms.Form):
    """Every option of :data:`evim.service.options.OPTIONS`, checked by its own field."""

    def __init__(self, data: Any = None, *, values: ServiceSettings) -> None:
        initial = {option.name: getattr(values, option.name) for option in OPTIONS}
        super().__init__(data, initial=initial)
        for option in OPTIONS:
            self.fields[option.name] = option.form_field()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for option in OPTIONS:
            if not cleaned.get(option.name):
                continue
            for needed in option.needs:
                if needed in cleaned and cleaned[needed] in ("", None, []):
                    self.add_error(
                        needed,
                        _("Needed when “%(option)s” is on.") % {"option": option.label},
                    )
        self._check_distinct_hosts(cleaned)
        self._check_tracker_over_https(cleaned)
        self._check_one_upstream(cleaned)
        return cleaned

    def _check_one_upstream(self, cleaned: dict[str, Any]) -> None:
        """An external server's main host is reached one way: WebSocket or BOSH."""
        if BY_NAME["bosh_url"].is_read_only():
            return  # the managed server: both are its own, the WebSocket is used
        if cleaned.get("websocket_url") and cleaned.get("bosh_url"):
            self.add_error(
                "bosh_url",
                _(
                    "A WebSocket upstream is already given: evim connects one way. Empty "
                    "one of the two (the WebSocket is the lighter for the server)."
                ),
            )

    def _check_tracker_over_https(self, cleaned: dict[str, Any]) -> None:
        """Under Force HTTPS, browsers refuse a tracker over plain http (mixed content)."""
        address = cleaned.get("tracker_url") or ""
        if (
            cleaned.get("force_https")
            and cleaned.get("track_visits")
            and address.startswith("http:")
        ):
            self.add_error(
                "tracker_url",
                _(
                    "Force HTTPS is on: browsers would block a tracker over http://. Give "
                    "your Matomo server's https:// address."
                ),
            )

    def _check_distinct_hosts(self, cleaned: dict[str, Any]) -> None:
        """Each host of the managed server has a name of its own."""
        seen: dict[str, str] = {}
        for name in DISTINCT_HOSTS:
            host = cleaned.get(name) if name in BY_NAME else None
            if not host:
                continue
            if host in seen:
                self.add_error(
                    name,
                    _("%(host)s is already the %(other)s: each host needs a name of its own.")
                    % {"host": host, "other": BY_NAME[seen[host]].label},
                )
            else:
                seen[host] = name

    def sections(self, defaults: dict[str, Any]) -> list[SectionFields]:
        """The page's sections, in order, each with its options (only sections with some)."""
        found: list[SectionFields] = []
        for section in Section:
            rows = [
                FieldRow(
                    self[option.name],
                    option,
                    defaults[option.name],
                    option.effect is Effect.ON_RESTART,
                    option.is_read_only(),
                )
                for option in OPTIONS
                if option.section is section
            ]
            if rows:
                found.append(SectionFields(section, rows))
        return found
