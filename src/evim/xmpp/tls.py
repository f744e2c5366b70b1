"""TLS client contexts for XMPP connections: one per trust anchor, built once.

Building a context loads a CA bundle (the system's holds about 150 certificates): evim
makes each one once and shares it between connections (an :class:`ssl.SSLContext` may
serve many connections, in any thread).  A context verifies the server's certificate
(``CERT_REQUIRED``) and its name (``check_hostname``), and speaks TLS 1.2 or later.
"""

from __future__ import annotations

import functools
import ssl
from pathlib import Path


class CAFileError(ValueError):
    """The CA bundle cannot be used (missing, unreadable, or no PEM certificate in it)."""


def ca_file_problem(path: Path) -> str | None:
    """What is wrong with ``path`` as a CA bundle (PEM), or ``None`` if it is usable."""
    try:
        client_ssl_context(path)
    except CAFileError as error:
        return str(error)
    return None


def client_ssl_context(ca_file: Path | None) -> ssl.SSLContext:
    """The shared context trusting only ``ca_file`` (PEM), or the system's store for
    ``None``.  A changed file (size or modification time) gets a new context.  Raises
    :class:`CAFileError`."""
    if ca_file is None:
        return _context(None, 0, 0)
    path = Path(ca_file).absolute()
    try:
        status = path.stat()
    except OSError as error:
        raise CAFileError(f"cannot read the CA file {path}: {error.strerror}") from None
    if not path.is_file():
        raise CAFileError(f"the CA file {path} is not a file")
    return _context(str(path), status.st_mtime_ns, status.st_size)


@functools.lru_cache(maxsize=16)
def _context(ca_file: str | None, _mtime_ns: int, _size: int) -> ssl.SSLContext:
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file)
    except OSError as error:  # ssl.SSLError is an OSError
        reason = getattr(error, "reason", None) or error.strerror or str(error)
        if isinstance(error, ssl.SSLError):
            reason = f"not a PEM certificate bundle ({reason})"
        raise CAFileError(f"cannot load the CA file {ca_file}: {reason}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    if ca_file is not None and not context.cert_store_stats()["x509"]:
        raise CAFileError(f"the CA file {ca_file} holds no certificate")
    return context
