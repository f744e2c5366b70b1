"""Small predicates on network addresses."""

from __future__ import annotations

import ipaddress


def is_loopback_host(host: str | None) -> bool:
    """``host`` (a URL's host name, IPv6 without brackets) is this machine: ``localhost``
    or a loopback address.  Nothing sent there travels on a network."""
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
