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
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from slixmpp import JID
from slixmpp.jid import InvalidJID

from evim.lib.network import is_loopback_host

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
    #: When it returns True the option is shown, not changed: its value is its default,
    #: set by evim's configuration (the environment), and nothing is ever stored for it.
    read_only: Callable[[], bool] | None = None

    def is_read_only(self) -> bool:
        return self.read_only is not None and self.read_only()

    def form_field(self) -> forms.Field:
        field = self.field()
        field.label = self.label
        field.help_text = self.help_text
        field.required = self.required
        if self.is_read_only():
            # Django ignores what a browser sends for a disabled field: the value stays.
            field.disabled = True
            field.required = False
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


class NetworkListField(forms.Field):
    """IP addresses or networks (CIDR), one a line: a list of their normal forms
    (``127.0.0.1``, ``10.0.0.0/24``, ``2001:db8::/32``)."""

    widget = forms.Textarea(attrs={"rows": 3})

    def to_python(self, value: Any) -> list[str]:
        text = str(value or "")
        networks: list[str] = []
        for number, line in enumerate(text.splitlines(), start=1):
            line = line.strip()
            if not line:
                continue
            network = _network(line, number)
            if network not in networks:
                networks.append(network)
        return networks

    def prepare_value(self, value: Any) -> Any:
        return "\n".join(value) if isinstance(value, list) else value


def _network(text: str, line: int) -> str:
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValidationError(
            _(
                "Line %(line)d: %(value)s is not an IP address or network. Write one a line, "
                "as 127.0.0.1, ::1 or 10.0.0.0/24."
            ),
            code="invalid",
            params={"line": line, "value": text},
        ) from None
    if "/" in text and ipaddress.ip_address(text.split("/", 1)[0]) != network.network_address:
        # 10.0.0.5/24: a network is named by its first address; say which one was meant.
        raise ValidationError(
            _(
                "Line %(line)d: %(value)s is not the start of a network. Write %(network)s "
                "for that network, or the address alone for one machine."
            ),
            code="host_bits",
            params={"line": line, "value": text, "network": str(network)},
        )
    if network.num_addresses == 1:
        return str(network.network_address)
    return str(network)


class HostNameField(forms.CharField):
    """A DNS name for a host of the managed server (``guest.example.org``), lowercased,
    which is none of the server's other hosts (``EVIM_XMPP_DOMAIN``, ``EVIM_XMPP_MUC_HOST``)."""

    def to_python(self, value: Any) -> str:
        text = str(super().to_python(value)).strip().lower().rstrip(".")
        if not text:
            return ""
        labels = text.split(".")
        if (
            len(text) > 253
            or len(labels) < 2
            or not all(_DNS_LABEL.fullmatch(label) for label in labels)
        ):
            raise ValidationError(
                _(
                    "%(value)s is not a host name. Write letters without accents, digits and "
                    "dashes, in parts separated by dots, for example guest.example.org."
                ),
                code="invalid",
                params={"value": text},
            )
        taken = {settings.EVIM_XMPP_DOMAIN: "EVIM_XMPP_DOMAIN"}
        taken[settings.EVIM_XMPP_MUC_HOST] = "EVIM_XMPP_MUC_HOST"
        if text in taken:
            raise ValidationError(
                _(
                    "%(value)s is already the server's %(setting)s: choose a name of its own, "
                    "for example guest.%(domain)s."
                ),
                code="taken",
                params={
                    "value": text,
                    "setting": taken[text],
                    "domain": settings.EVIM_XMPP_DOMAIN,
                },
            )
        return text


_DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


def _always() -> bool:
    return True


def _managed() -> bool:
    return bool(settings.EVIM_XMPP_SERVER == "managed")


def _external() -> bool:
    return not _managed()


def _managed_default(value: Callable[[str], Any], otherwise: Any) -> Callable[[], Any]:
    """A default for the managed server, from its domain; ``otherwise`` for an external one."""
    return lambda: value(settings.EVIM_XMPP_DOMAIN) if _managed() else otherwise


class ComponentHostField(HostNameField):
    """A host name for a component of the managed server: under its domain (clients find
    the components in the domain's service discovery), or empty (no such component)."""

    def to_python(self, value: Any) -> str:
        text = str(super().to_python(value))
        domain = settings.EVIM_XMPP_DOMAIN
        if text and not text.endswith(f".{domain}"):
            raise ValidationError(
                _(
                    "%(value)s is not under the server's domain %(domain)s: write a name "
                    "ending in .%(domain)s, so that clients find it on the server."
                ),
                code="outside",
                params={"value": text, "domain": domain},
            )
        return text


class StunServerListField(forms.Field):
    """STUN servers, one a line, as ``host`` or ``host:port`` (IPv6: ``[2001:db8::1]:3478``):
    a list of ``host:port`` (port 3478 when left out), host names lowercased."""

    widget = forms.Textarea(attrs={"rows": 2})

    def to_python(self, value: Any) -> list[str]:
        servers: list[str] = []
        for number, line in enumerate(str(value or "").splitlines(), start=1):
            line = line.strip()
            if line:
                server = _stun_server(line, number)
                if server not in servers:
                    servers.append(server)
        return servers

    def prepare_value(self, value: Any) -> Any:
        return "\n".join(value) if isinstance(value, list) else value


_STUN_LINE = re.compile(
    r"(?:\[(?P<ipv6>[0-9A-Fa-f:.]+)\]|(?P<host>[^\s:\[\]]+))(?::(?P<port>\d{1,5}))?"
)


def _stun_server(text: str, line: int) -> str:
    match = _STUN_LINE.fullmatch(text)
    host = ""
    if match:
        port = int(match["port"] or 3478)
        if match["ipv6"]:
            try:
                host = f"[{ipaddress.IPv6Address(match['ipv6'])}]"
            except ValueError:
                host = ""
        else:
            name = match["host"].lower().rstrip(".")
            labels = name.split(".")
            if all(_DNS_LABEL.fullmatch(label) for label in labels) and len(name) <= 253:
                host = name
        if host and 1 <= port <= 65535:
            return f"{host}:{port}"
    raise ValidationError(
        _(
            "Line %(line)d: %(value)s is not a STUN server. Write one a line, as "
            "stun.example.org or stun.example.org:3478 (IPv6: [2001:db8::1]:3478)."
        ),
        code="invalid",
        params={"line": line, "value": text},
    )


class UpstreamWebSocketField(forms.CharField):
    """The XMPP WebSocket (RFC 7395) of an external server: ``wss://`` (``ws://`` only on
    this machine, where nothing travels on a network)."""

    def to_python(self, value: Any) -> str:
        text = str(super().to_python(value)).strip()
        if not text:
            return ""
        parts = urlsplit(text)
        host = parts.hostname or ""
        loopback = is_loopback_host(host)
        if parts.scheme not in ("ws", "wss") or not host or parts.query or parts.fragment:
            raise ValidationError(
                _(
                    "Enter the address of the server's XMPP WebSocket, starting with wss://, "
                    "for example wss://xmpp.example.org/xmpp-websocket."
                ),
                code="invalid",
            )
        if parts.scheme == "ws" and not loopback:
            raise ValidationError(
                _(
                    "ws:// would send the Jabber passwords unencrypted over the network: use "
                    "wss://, or ws:// to this machine only (127.0.0.1)."
                ),
                code="plain",
            )
        return text


def _managed_websocket_url() -> str:
    if _managed():
        return f"ws://127.0.0.1:{settings.EVIM_XMPP_HTTP_PORT}/xmpp-websocket"
    return ""


class UpstreamBoshField(forms.CharField):
    """The BOSH endpoint (XEP-0124/XEP-0206) of an external server: ``https://``
    (``http://`` only on this machine, where nothing travels on a network)."""

    def to_python(self, value: Any) -> str:
        text = str(super().to_python(value)).strip()
        if not text:
            return ""
        parts = urlsplit(text)
        host = parts.hostname or ""
        loopback = is_loopback_host(host)
        if (
            parts.scheme not in ("http", "https")
            or not host
            or parts.username is not None
            or parts.fragment
        ):
            raise ValidationError(
                _(
                    "Enter the address of the server's BOSH endpoint, starting with https://, "
                    "for example https://xmpp.example.org/http-bind."
                ),
                code="invalid",
            )
        if parts.scheme == "http" and not loopback:
            raise ValidationError(
                _(
                    "http:// would send the Jabber passwords unencrypted over the network: use "
                    "https://, or http:// to this machine only (127.0.0.1)."
                ),
                code="plain",
            )
        return text


def _managed_bosh_url() -> str:
    if _managed():
        return f"http://127.0.0.1:{settings.EVIM_XMPP_HTTP_PORT}/http-bind"
    return ""


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
        "anonymous_mode",
        Section.CONNECTION,
        _("Anonymous mode"),
        _(
            "Guests without an account (customers, providers) may chat in one room under a "
            "nickname, through a guest link an administrator makes (Messaging > Guest "
            "links). They connect to the anonymous host, and reach that room only. Off: "
            "guest links lead nowhere and guests' chats end. External server: not available "
            "(the anonymous host is one of the managed server's hosts)."
        ),
        _switch,
        lambda: False,
        read_only=_external,
    ),
    Option(
        "registration_allowed",
        Section.CONNECTION,
        _("Registration allowed"),
        _(
            "Users without a Jabber account create their own from their profile (“Create my "
            "chat account”), and XMPP clients may create accounts on the managed server "
            "(in-band registration), with abuse limits: at most 3 accounts an hour from one "
            "address, reserved names such as admin refused. With an external server, "
            "accounts are made by its own rules: evim cannot create any, and this stays off."
        ),
        _switch,
        lambda: False,
        read_only=_external,
    ),
    Option(
        "http_auth",
        Section.CONNECTION,
        _("HTTP authentication"),
        _(
            "People already logged in to the reverse proxy in front of evim (single sign-on, "
            "LDAP, Kerberos) are logged in to the back office as the user with the same "
            "login, with no login form, and their chat connects by itself. Only the header "
            "below, sent by the proxies below, is believed."
        ),
        _switch,
        lambda: False,
        needs=("http_auth_header", "http_auth_proxies"),
    ),
    Option(
        "http_auth_header",
        Section.CONNECTION,
        _("Login header"),
        _(
            "The request header in which the proxy passes its user's login. evim runs "
            "under ASGI, where there is no REMOTE_USER variable: the proxy sets this header "
            "itself on every request, replacing any the browser sent; with nginx: "
            "proxy_set_header X-Remote-User $remote_user;"
        ),
        lambda: forms.RegexField(
            # An HTTP header name (RFC 9110 token), without underscores: servers turn
            # dashes and underscores into the same name, so a browser could pass off
            # X_Remote_User as the proxy's X-Remote-User.
            regex=r"^[A-Za-z0-9!#$%&'*+.^`|~-]+$",
            max_length=64,
            error_messages={
                "invalid": _(
                    "Write a header name: letters without accents, digits and dashes (no "
                    "spaces, colons or underscores), for example X-Remote-User."
                )
            },
        ),
        lambda: "X-Remote-User",
    ),
    Option(
        "http_auth_proxies",
        Section.CONNECTION,
        _("Trusted proxies"),
        _(
            "The addresses the login header is accepted from, one a line: an IP address "
            "or a network such as 10.0.0.0/24 (127.0.0.1 for a proxy on this machine). It "
            "is the address of the connection itself: X-Forwarded-For is never believed. "
            "From any other address the header is ignored."
        ),
        NetworkListField,
        lambda: [],
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
        "encryption",
        Section.ADVANCED,
        _("Encryption"),
        _(
            "The chat offers OMEMO end-to-end encryption: in a one-to-one chat, the padlock "
            "of the toolbar encrypts the messages in the browser, and only the browsers of "
            "the two people can read them — not the server, not evim. Each user turns it on "
            "per chat. Its costs: the first login in each browser is slower (keys are made "
            "and published), the server's archive holds encrypted messages (no search), "
            "other clients without OMEMO (and a new browser) cannot read them, and the "
            "browser loads a GPL-3.0 library and runs WebAssembly. Off: none of it is loaded."
        ),
        _switch,
        lambda: False,
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
        "statistics",
        Section.ADVANCED,
        _("Statistics"),
        _(
            "The chat's usage, day by day, on the Usage statistics page for administrators: "
            "connections, messages sent and received, active users. Only counts are kept, "
            "never a message or who wrote to whom. Off: nothing is recorded."
        ),
        _switch,
        # On, as in the original's configuration: counts only, nothing personal kept.
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
    Option(
        "main_host",
        Section.HOSTS,
        _("Main host"),
        _(
            "The domain of the Jabber accounts (EVIM_XMPP_DOMAIN). Set in evim's "
            "configuration, not here: changing it means moving every account to new "
            "addresses."
        ),
        _text(253),
        lambda: settings.EVIM_XMPP_DOMAIN,
        read_only=_always,
    ),
    Option(
        "muc_host",
        Section.HOSTS,
        _("MUC host"),
        _(
            "The rooms' host (EVIM_XMPP_MUC_HOST). Set in evim's configuration, not here: "
            "changing it means moving every room and its history to new addresses."
        ),
        _text(253),
        lambda: settings.EVIM_XMPP_MUC_HOST,
        read_only=_always,
    ),
    Option(
        "anonymous_host",
        Section.HOSTS,
        _("Anonymous host"),
        _(
            "The managed server's host for guests (anonymous mode): they get an address on "
            "it that lasts as long as their chat. A host name of its own, such as "
            "guest.example.org; no DNS record is needed."
        ),
        lambda: HostNameField(max_length=253),
        lambda: f"guest.{settings.EVIM_XMPP_DOMAIN}",
        required=True,
        read_only=_external,
    ),
    Option(
        "pubsub_host",
        Section.HOSTS,
        _("Pubsub host"),
        _(
            "The managed server's publish-subscribe service (XEP-0060), where XMPP clients "
            "keep shared feeds and nodes. Empty: none. The managed server follows a change "
            "at once; the nodes of a former host stay with it."
        ),
        lambda: ComponentHostField(max_length=253),
        _managed_default(lambda domain: f"pubsub.{domain}", ""),
        read_only=_external,
    ),
    Option(
        "directory_host",
        Section.HOSTS,
        _("Directory host"),
        _(
            "The managed server's user directory (XEP-0055 search): in an XMPP client, "
            "colleagues are found by a part of their name. Only the users of the main host "
            "may search it. Empty: no directory."
        ),
        lambda: ComponentHostField(max_length=253),
        _managed_default(lambda domain: f"directory.{domain}", ""),
        read_only=_external,
    ),
    Option(
        "stun_servers",
        Section.HOSTS,
        _("STUN servers"),
        _(
            "STUN servers the managed server tells XMPP clients about (XEP-0215), for audio "
            "and video calls in clients that make them: one a line, as stun.example.org or "
            "stun.example.org:3478. Empty: none."
        ),
        StunServerListField,
        lambda: [],
        read_only=_external,
    ),
    Option(
        "websocket_url",
        Section.HOSTS,
        _("WebSocket upstream"),
        _(
            "Where evim's gateway connects for the chats of the main host's accounts: the "
            "XMPP WebSocket (RFC 7395) of an external server, such as "
            "wss://xmpp.example.org/xmpp-websocket. Empty: a direct XMPP connection (DNS "
            "SRV records or EVIM_XMPP_ADDRESS_OVERRIDES). With the managed server it is "
            "the managed Prosody's own."
        ),
        lambda: UpstreamWebSocketField(max_length=300),
        _managed_websocket_url,
        read_only=_managed,
    ),
    Option(
        "bosh_url",
        Section.HOSTS,
        _("BOSH upstream"),
        _(
            "Instead of a WebSocket upstream: the BOSH endpoint (XEP-0206) of an external "
            "server, such as https://xmpp.example.org/http-bind, for the chats of the main "
            "host's accounts. Give one or the other, not both. Empty: no BOSH. With the "
            "managed server it is the managed Prosody's own (evim uses its WebSocket)."
        ),
        lambda: UpstreamBoshField(max_length=300),
        _managed_bosh_url,
        read_only=_managed,
    ),
    Option(
        "integrated_proxy",
        Section.HOSTS,
        _("Integrated proxy"),
        _(
            "Always on in evim: the browser's chat speaks only to evim (WebSocket /im/ws and "
            "BOSH /http-bind, on the site's own address), and evim logs in to the XMPP "
            "server itself with the stored password. Turning it off would mean sending each "
            "user's Jabber password to their browser, as the original did."
        ),
        _switch,
        lambda: True,
        read_only=_always,
    ),
)

#: Options naming hosts of the managed server: no two may be the same.
DISTINCT_HOSTS: tuple[str, ...] = (
    "main_host",
    "muc_host",
    "pubsub_host",
    "directory_host",
    "anonymous_host",
)

BY_NAME = {option.name: option for option in OPTIONS}
