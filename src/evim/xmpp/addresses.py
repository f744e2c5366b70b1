"""Where the server of an XMPP domain is: :class:`ServerAddress`, :func:`resolve`.

RFC 6120 §3.2 and XEP-0368: a client looks up the DNS SRV records
``_xmpps-client._tcp.<domain>`` (direct TLS) and ``_xmpp-client._tcp.<domain>`` (STARTTLS),
tries their targets by priority (then weight), and, when there are none, connects to the
domain itself on port 5222 (STARTTLS).  evim adds two ways around DNS:

- *overrides* (``EVIM_XMPP_ADDRESS_OVERRIDES``, parsed by :func:`parse_overrides`):
  ``domain=host:port`` or ``domain=host:port/direct-tls``, comma-separated;
- evim's own domain (``EVIM_XMPP_DOMAIN``) is where ``EVIM_XMPP_HOST``/``EVIM_XMPP_C2S_PORT``
  say — for the managed Prosody, with its self-signed certificate as the only trust anchor.

:class:`ServerLocator` puts these together: ``await locator.locate(domain)`` gives a
:class:`ServerTarget` (the addresses to try, in order, and the CA file to trust).
:meth:`ServerLocator.from_settings` is the only place reading Django settings.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dns.asyncresolver
import dns.exception
import dns.name
import dns.rdtypes.IN.SRV
import dns.resolver

logger = logging.getLogger("evim.xmpp")

#: RFC 6120 §3.2.2: the client port when a domain has no SRV records.
DEFAULT_CLIENT_PORT = 5222
#: XEP-0368 (direct TLS) and RFC 6120 (STARTTLS) SRV services, in that order of preference.
DIRECT_TLS_SERVICE = "_xmpps-client._tcp"
STARTTLS_SERVICE = "_xmpp-client._tcp"
#: Seconds a DNS lookup may take, all retries included.
DNS_LIFETIME = 5.0

SETTING = "EVIM_XMPP_ADDRESS_OVERRIDES"
EXPECTED_FORM = "expected domain=host:port or domain=host:port/direct-tls"
DIRECT_TLS_OPTION = "direct-tls"
_FORBIDDEN_IN_NAMES = frozenset("@/\\\"'<>&=,;[]")


class ResolutionError(Exception):
    """No server address can be given for ``domain``."""

    def __init__(self, domain: str, message: str) -> None:
        super().__init__(message)
        self.domain = domain


class UnknownDomainError(ResolutionError):
    """The domain does not exist (DNS NXDOMAIN, and the system resolver agrees)."""

    def __init__(self, domain: str) -> None:
        super().__init__(domain, f"the domain {domain} does not exist (DNS: NXDOMAIN)")


class NoXmppServiceError(ResolutionError):
    """The domain's SRV records say it offers no XMPP client service (target ".")."""

    def __init__(self, domain: str) -> None:
        super().__init__(
            domain, f"the DNS of {domain} says it offers no XMPP service (SRV target '.')"
        )


@dataclass(frozen=True)
class ServerAddress:
    """One place to connect to: ``host`` (a name or an IP address) and ``port``; with
    ``direct_tls`` TLS starts at once (XEP-0368), else the stream starts in clear and is
    upgraded with STARTTLS."""

    host: str
    port: int
    direct_tls: bool = False

    def __post_init__(self) -> None:
        host = self.host.strip()
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        if not host or any(char.isspace() or char in _FORBIDDEN_IN_NAMES for char in host):
            raise ValueError(f"ServerAddress: not a valid host: {self.host!r}")
        if _ip_address(host) is None:
            host = host.rstrip(".").lower()
        object.__setattr__(self, "host", host)
        if isinstance(self.port, bool) or not 1 <= self.port <= 65535:
            raise ValueError(f"ServerAddress: port expected 1..65535, found {self.port!r}")

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}" + (" (direct TLS)" if self.direct_tls else "")


@dataclass(frozen=True)
class ServerTarget:
    """What to try for one domain: addresses in order, and the CA bundle to verify the
    server's certificate with (``None``: the system's trust store)."""

    domain: str
    addresses: tuple[ServerAddress, ...]
    ca_file: Path | None


def _ip_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def normalise_domain(text: str) -> str:
    """``text`` as a DNS name to compare and look up: lowercase, no final dot, A-labels
    (IDNA) for international names; IP addresses as they are.  Raises ``ValueError``."""
    name = text.strip()
    if name.startswith("[") and name.endswith("]") and _ip_address(name[1:-1]) is not None:
        return name[1:-1]
    if _ip_address(name) is not None:
        return name
    if name.endswith("."):
        name = name[:-1]
    if not name or any(char.isspace() or char in _FORBIDDEN_IN_NAMES for char in name):
        raise ValueError(f"not a valid domain: {text!r}")
    try:
        ascii_name = name.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise ValueError(f"not a valid domain: {text!r}") from None
    if len(ascii_name) > 253 or any(not label for label in ascii_name.split(".")):
        raise ValueError(f"not a valid domain: {text!r}")
    return ascii_name


# --- EVIM_XMPP_ADDRESS_OVERRIDES ------------------------------------------------------------


def _override_error(item: str, problem: str) -> ValueError:
    return ValueError(f"{SETTING}: {item!r} {problem}; {EXPECTED_FORM}")


def _parse_override(item: str) -> tuple[str, ServerAddress]:
    domain_text, equals, address_text = item.partition("=")
    if not equals:
        raise _override_error(item, "has no '='")
    domain_text, address_text = domain_text.strip(), address_text.strip()
    if not domain_text:
        raise _override_error(item, "has no domain")
    try:
        domain = normalise_domain(domain_text)
    except ValueError:
        raise _override_error(item, f"has an invalid domain {domain_text!r}") from None
    address_text, slash, option = address_text.partition("/")
    option = option.strip()
    if slash and option.lower() != DIRECT_TLS_OPTION:
        raise _override_error(item, f"has an unknown option {option!r} (only /direct-tls)")
    address_text = address_text.strip()
    if address_text.startswith("["):  # [IPv6]:port
        host, bracket, rest = address_text[1:].partition("]")
        if not bracket:
            raise _override_error(item, "has an unclosed '['")
        if rest and not rest.startswith(":"):
            raise _override_error(item, f"has {rest!r} after the IPv6 address")
        port_text, colon = rest[1:], bool(rest)
        if _ip_address(host) is None:
            raise _override_error(item, f"has an invalid IPv6 address {host!r}")
    else:
        if address_text.count(":") > 1:
            raise _override_error(item, "has an IPv6 address without brackets ([::1]:5222)")
        host, colon_text, port_text = address_text.partition(":")
        colon = bool(colon_text)
    host = host.strip()
    if not host:
        raise _override_error(item, "has no host")
    port_text = port_text.strip()
    if not colon or not port_text:
        raise _override_error(item, "has no port")
    if not port_text.isdecimal() or not 1 <= int(port_text) <= 65535:
        raise _override_error(item, f"has an invalid port {port_text!r} (1..65535)")
    try:
        address = ServerAddress(host, int(port_text), direct_tls=bool(slash))
    except ValueError:
        raise _override_error(item, f"has an invalid host {host!r}") from None
    return domain, address


def parse_overrides(text: str) -> dict[str, ServerAddress]:
    """Parse ``EVIM_XMPP_ADDRESS_OVERRIDES``: ``domain=host:port[/direct-tls]``, comma-separated
    (blank items are ignored).  Keys are normalised domains (:func:`normalise_domain`).
    Raises ``ValueError`` naming the bad item and the expected form."""
    overrides: dict[str, ServerAddress] = {}
    for raw_item in text.split(","):
        item = raw_item.strip()
        if not item:
            continue
        domain, address = _parse_override(item)
        if domain in overrides:
            raise ValueError(f"{SETTING}: the domain {domain!r} is given twice; {EXPECTED_FORM}")
        overrides[domain] = address
    return overrides


# --- DNS --------------------------------------------------------------------------------------


@dataclass
class _SrvAnswer:
    records: list[tuple[int, int, ServerAddress]] = field(default_factory=list)
    #: The records say "no such service here" (a single target ".").
    unavailable: bool = False


def _make_resolver(
    nameservers: Sequence[str] | None, port: int, lifetime: float
) -> dns.asyncresolver.Resolver | None:
    if nameservers is None:
        try:
            resolver = dns.asyncresolver.Resolver()
        except dns.resolver.NoResolverConfiguration:
            logger.warning("No DNS configuration (/etc/resolv.conf): SRV records not used")
            return None
    else:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = list(nameservers)
    resolver.port = port
    resolver.lifetime = lifetime
    resolver.timeout = min(resolver.timeout, lifetime)
    return resolver


async def _lookup_srv(
    resolver: dns.asyncresolver.Resolver, domain: str, *, direct_tls: bool
) -> _SrvAnswer:
    service = DIRECT_TLS_SERVICE if direct_tls else STARTTLS_SERVICE
    qname = f"{service}.{domain}."
    try:
        answer = await resolver.resolve(qname, "SRV", search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return _SrvAnswer()
    except dns.exception.DNSException as error:
        logger.info("DNS lookup of %s SRV failed (%s): ignored", qname, error)
        return _SrvAnswer()
    result = _SrvAnswer()
    for rdata in answer:
        if not isinstance(rdata, dns.rdtypes.IN.SRV.SRV):
            continue
        if rdata.target == dns.name.root:
            result.unavailable = True
            continue
        host = rdata.target.to_text(omit_final_dot=True)
        try:
            address = ServerAddress(host, rdata.port, direct_tls=direct_tls)
        except ValueError:
            logger.info("Ignored the SRV record %s of %s: unusable target", rdata, qname)
            continue
        result.records.append((rdata.priority, rdata.weight, address))
    if result.records:
        result.unavailable = False  # a "." among real targets means nothing
    return result


async def _domain_exists(resolver: dns.asyncresolver.Resolver, domain: str) -> bool:
    """False only when DNS says NXDOMAIN *and* the system resolver (``/etc/hosts``…) does
    not know the name either."""
    try:
        await resolver.resolve(f"{domain}.", "A", search=False, raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        pass
    except dns.exception.DNSException:
        return True  # unknown: let the connection tell
    else:
        return True
    loop = asyncio.get_running_loop()
    try:
        await loop.getaddrinfo(domain, None, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return False
    return True


def _srv_order(item: tuple[int, int, ServerAddress]) -> tuple[int, int, int]:
    priority, weight, address = item
    # Lower priority first; within a priority, heavier first (RFC 2782 picks at random in
    # proportion to weight: the deterministic version of it), direct TLS before STARTTLS.
    return (priority, -weight, 0 if address.direct_tls else 1)


async def resolve(
    domain: str,
    *,
    overrides: Mapping[str, ServerAddress],
    resolver_nameservers: Sequence[str] | None = None,
    resolver_port: int = 53,
    lifetime: float = DNS_LIFETIME,
) -> list[ServerAddress]:
    """The addresses to try for ``domain``, in order (RFC 6120 §3.2, XEP-0368).

    The override for ``domain`` if there is one; else the targets of its SRV records
    (direct TLS and STARTTLS together, by priority then weight); else the domain itself on
    port 5222.  ``resolver_nameservers`` (IP addresses) and ``resolver_port`` replace the
    system's DNS servers.  Raises :class:`UnknownDomainError` when the domain does not exist,
    :class:`NoXmppServiceError` when its DNS says it has no XMPP service, ``ValueError``
    when ``domain`` is not a domain.  Other DNS failures fall back to the domain itself.
    """
    name = normalise_domain(domain)
    override = overrides.get(name)
    if override is not None:
        return [override]
    if _ip_address(name) is not None:
        return [ServerAddress(name, DEFAULT_CLIENT_PORT)]
    resolver = _make_resolver(resolver_nameservers, resolver_port, lifetime)
    if resolver is None:
        return [ServerAddress(name, DEFAULT_CLIENT_PORT)]
    direct, starttls = await asyncio.gather(
        _lookup_srv(resolver, name, direct_tls=True),
        _lookup_srv(resolver, name, direct_tls=False),
    )
    records = sorted(direct.records + starttls.records, key=_srv_order)
    if records:
        addresses: list[ServerAddress] = []
        for _priority, _weight, address in records:
            if address not in addresses:
                addresses.append(address)
        return addresses
    if direct.unavailable or starttls.unavailable:
        raise NoXmppServiceError(name)
    if not await _domain_exists(resolver, name):
        raise UnknownDomainError(name)
    return [ServerAddress(name, DEFAULT_CLIENT_PORT)]


# --- a JID's server, from evim's settings -----------------------------------------------------


@dataclass(frozen=True)
class ServerLocator:
    """Where each domain's server is, for evim: its own domain (``home_domain``) at
    ``home_address`` (if set) trusting ``home_ca_file``; every other domain through
    ``overrides`` or DNS, trusting ``ca_file`` (``None``: the system's trust store)."""

    home_domain: str
    home_address: ServerAddress | None
    home_ca_file: Path | None
    overrides: Mapping[str, ServerAddress] = field(default_factory=dict)
    ca_file: Path | None = None
    resolver_nameservers: Sequence[str] | None = None
    resolver_port: int = 53
    dns_lifetime: float = DNS_LIFETIME

    @classmethod
    def from_settings(cls) -> ServerLocator:
        """evim's locator, from ``django.conf.settings``; ``ValueError`` on bad overrides."""
        from django.conf import settings

        ca_file = Path(settings.EVIM_XMPP_CA_FILE) if settings.EVIM_XMPP_CA_FILE else None
        home_address = managed_address_from_settings()
        if settings.EVIM_XMPP_SERVER == "managed":
            from evim.managed_server.layout import ServerLayout

            home_ca_file: Path | None = ServerLayout.from_settings().certificate_path
        else:
            home_ca_file = ca_file
        return cls(
            home_domain=normalise_domain(settings.EVIM_XMPP_DOMAIN),
            home_address=home_address,
            home_ca_file=home_ca_file,
            overrides=parse_overrides(settings.EVIM_XMPP_ADDRESS_OVERRIDES),
            ca_file=ca_file,
            dns_lifetime=min(DNS_LIFETIME, float(settings.EVIM_XMPP_TIMEOUT)),
        )

    async def locate(self, domain: str) -> ServerTarget:
        """The addresses and CA for ``domain`` (raises like :func:`resolve`)."""
        name = normalise_domain(domain)
        if name == self.home_domain and self.home_address is not None:
            return ServerTarget(name, (self.home_address,), self.home_ca_file)
        addresses = await resolve(
            name,
            overrides=self.overrides,
            resolver_nameservers=self.resolver_nameservers,
            resolver_port=self.resolver_port,
            lifetime=self.dns_lifetime,
        )
        ca_file = self.home_ca_file if name == self.home_domain else self.ca_file
        return ServerTarget(name, tuple(addresses), ca_file)


def managed_address_from_settings() -> ServerAddress | None:
    """Where evim's own domain (``EVIM_XMPP_DOMAIN``) is served, from the settings: the
    managed Prosody's ``EVIM_XMPP_HOST``:``EVIM_XMPP_C2S_PORT`` (STARTTLS); for an external
    server, that address if ``EVIM_XMPP_HOST`` is set, else ``None`` (overrides, then DNS).
    Raises ``ValueError`` when the host is not a host name."""
    from django.conf import settings

    if settings.EVIM_XMPP_SERVER == "managed":
        from evim.managed_server.layout import ServerLayout

        layout = ServerLayout.from_settings()
        return ServerAddress(layout.c2s_host, layout.c2s_port)
    if settings.EVIM_XMPP_HOST:
        return ServerAddress(settings.EVIM_XMPP_HOST, settings.EVIM_XMPP_C2S_PORT)
    return None
