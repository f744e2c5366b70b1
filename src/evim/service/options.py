"""Every option of the service settings page, in the page's order.

An :class:`Option` says where it is shown (its :class:`Section`), what it means (label and
explanation, in French and English through gettext), how a value is checked (its form
field: a bad value is refused with a message naming what is wrong), what it is when no
administrator changed it (``default``, read from evim's settings when there is one), and
when a change takes effect (:class:`Effect`).  The values in force are read with
:func:`evim.service.current.service`; their names are the fields of
:class:`evim.service.current.ServiceSettings`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from slixmpp import JID
from slixmpp.jid import InvalidJID

if TYPE_CHECKING:
    from django.utils.functional import _StrPromise


class Section(enum.Enum):
    SERVICE = _("Service")
    CONNECTION = _("Connection")
    OTHERS = _("Others")
    ADVANCED = _("Advanced")
    HOSTS = _("Hosts")


class Effect(enum.Enum):
    AT_ONCE = "at once"  # read on every page or connection
    ON_RESTART = "on restart"  # read when evim (or its managed server) starts


@dataclass(frozen=True)
class Option:
    name: str
    section: Section
    label: _StrPromise
    help_text: _StrPromise
    field: Callable[[], forms.Field]
    default: Callable[[], Any]
    effect: Effect = Effect.AT_ONCE
    required: bool = False
    #: For a switch: the options that must have a value when it is on.
    needs: tuple[str, ...] = ()

    def form_field(self) -> forms.Field:
        field = self.field()
        field.label = self.label
        field.help_text = self.help_text
        field.required = self.required
        return field


# Links evim shows to people: web addresses only (no javascript:, no mailto:).
WEB_ADDRESS = URLValidator(schemes=["http", "https"])


def _text(max_length: int) -> Callable[[], forms.Field]:
    return lambda: forms.CharField(max_length=max_length, strip=True)


def _long_text(max_length: int) -> Callable[[], forms.Field]:
    return lambda: forms.CharField(
        max_length=max_length, strip=True, widget=forms.Textarea(attrs={"rows": 3})
    )


def _address() -> forms.Field:
    return forms.URLField(
        max_length=300,
        validators=[WEB_ADDRESS],
        assume_scheme="https",
        error_messages={
            "invalid": _(
                "Enter a web address starting with https:// or http://, for example "
                "https://www.example.org/."
            )
        },
    )


def _switch() -> forms.Field:
    return forms.BooleanField(required=False)


class RoomListField(forms.Field):
    """Room addresses, one a line: a list of normalised bare JIDs (``room@service``)."""

    widget = forms.Textarea(attrs={"rows": 3})

    def to_python(self, value: Any) -> list[str]:
        text = str(value or "")
        rooms: list[str] = []
        for number, line in enumerate(text.splitlines(), start=1):
            line = line.strip()
            if not line:
                continue
            room = _room_address(line, number)
            if room not in rooms:
                rooms.append(room)
        return rooms

    def prepare_value(self, value: Any) -> Any:
        return "\n".join(value) if isinstance(value, list) else value


def _room_address(text: str, line: int) -> str:
    problem = None
    try:
        jid = JID(text)
    except InvalidJID:
        problem = "invalid"
    else:
        if not jid.user or not jid.domain or jid.resource:
            problem = "shape"
    if problem:
        raise ValidationError(
            _(
                "Line %(line)d: %(value)s is not a room address. Write one room a line, "
                "as name@conference.example.org."
            ),
            code=problem,
            params={"line": line, "value": text},
        )
    return str(jid.bare).lower()


OPTIONS: tuple[Option, ...] = (
    Option(
        "name",
        Section.SERVICE,
        _("Service name"),
        _("Shown at the top of the chat bar and of the full-page chat, and on the login page."),
        _text(80),
        lambda: gettext("Instant messaging"),
        required=True,
    ),
    Option(
        "description",
        Section.SERVICE,
        _("Description"),
        _("One or two sentences under the name, in the same places. Empty: none."),
        _long_text(300),
        lambda: "",
    ),
    Option(
        "owner_name",
        Section.SERVICE,
        _("Owner name"),
        _("Who runs the service, shown on the login page and the full-page chat."),
        _text(120),
        lambda: settings.EVIM_STRUCTURE_NAME,
    ),
    Option(
        "owner_site",
        Section.SERVICE,
        _("Owner's site"),
        _("The owner's web site: the owner's name links to it. Empty: no link."),
        _address,
        lambda: "",
    ),
    Option(
        "terms_url",
        Section.SERVICE,
        _("Terms of use"),
        _(
            "The address of the service's terms of use, linked from the login page and the "
            "full-page chat. Empty: no link."
        ),
        _address,
        lambda: "",
    ),
    Option(
        "resource",
        Section.CONNECTION,
        _("Resource"),
        _(
            "The start of the XMPP resource of the chat's sessions, which other clients "
            "show: the chat adds where it runs (bar or page) and a unique part, as in "
            "evim-bar-4f2c9a1e. Letters, digits, dots, dashes and underscores."
        ),
        lambda: forms.RegexField(
            regex=r"^[A-Za-z0-9._-]+$",
            max_length=32,
            error_messages={
                "invalid": _(
                    "Use only letters without accents, digits, dots, dashes and "
                    "underscores, for example evim."
                )
            },
        ),
        lambda: "evim",
        required=True,
    ),
    Option(
        "lock_host",
        Section.CONNECTION,
        _("Lock host"),
        _(
            "Only Jabber accounts of the main host (EVIM_XMPP_DOMAIN) may be mapped to users "
            "and used by the chat. While it is on, an account on another server is refused, "
            "and a user already mapped to one gets no chat."
        ),
        _switch,
        lambda: settings.EVIM_XMPP_LOCK_HOST,
    ),
    Option(
        "manager_link",
        Section.OTHERS,
        _("Manager link"),
        _("Administrators get a link from the chat to this page. The other users never see it."),
        _switch,
        lambda: True,
    ),
    Option(
        "rooms_to_join",
        Section.OTHERS,
        _("Rooms to join"),
        _(
            "Rooms every chat joins by itself, in addition to those of project.yml "
            "(messaging.chatrooms): one room address a line."
        ),
        RoomListField,
        lambda: [],
    ),
    Option(
        "suggest_rooms",
        Section.OTHERS,
        _("Suggest rooms"),
        _(
            "Instead of joining the rooms silently, the chat offers each user the rooms "
            "they have not answered yet: join or skip. Each answer is remembered."
        ),
        _switch,
        lambda: False,
    ),
    Option(
        "announcement",
        Section.OTHERS,
        _("Announcement"),
        _(
            "A banner at the top of the chat for every user (the place of the original's "
            "ads): a maintenance, a new room. Empty: no banner."
        ),
        _long_text(300),
        lambda: "",
    ),
    Option(
        "force_https",
        Section.ADVANCED,
        _("Force HTTPS"),
        _(
            "Pages are sent over HTTPS only: an http:// address is redirected to https://, "
            "browsers are told to keep to HTTPS (HSTS), cookies travel encrypted only, and "
            "the chat connects over wss:// only. Turn it on once the site answers over "
            "HTTPS. On for good when EVIM_HTTPS=1."
        ),
        _switch,
        lambda: settings.EVIM_HTTPS,
    ),
    Option(
        "compression",
        Section.ADVANCED,
        _("Compression"),
        _(
            "Pages and files are sent compressed (gzip, or Brotli for the files) to the "
            "browsers that accept it: less to download on a slow connection."
        ),
        _switch,
        lambda: True,
    ),
    Option(
        "track_visits",
        Section.ADVANCED,
        _("Track visits"),
        _(
            "Count the back office's page views with a Matomo server of your own (the "
            "address and site below). Off: no tracker, nothing sent anywhere."
        ),
        _switch,
        lambda: False,
        needs=("tracker_url", "tracker_site_id"),
    ),
    Option(
        "tracker_url",
        Section.ADVANCED,
        _("Matomo address"),
        _("The address of your Matomo server, for example https://stats.example.org/."),
        _address,
        lambda: "",
    ),
    Option(
        "tracker_site_id",
        Section.ADVANCED,
        _("Matomo site"),
        _("The number of this site in Matomo."),
        lambda: forms.IntegerField(min_value=1),
        lambda: None,
    ),
)

BY_NAME = {option.name: option for option in OPTIONS}
