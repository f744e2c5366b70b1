"""The managed Prosody's self-signed TLS certificate.

Clients on TCP must encrypt (STARTTLS), so Prosody needs a certificate even on loopback.
:func:`ensure_certificate` makes one on first run (an ECDSA P-256 key, mode 0600, and a
certificate naming the XMPP domain and the MUC host), then reuses it; it makes a new one
when the names changed, the key does not match or the certificate is about to expire.
Nothing is shelled out: everything is done with ``cryptography``.
"""

from __future__ import annotations

import datetime
import logging

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from evim.managed_server.files import write_atomically
from evim.managed_server.layout import ServerLayout

logger = logging.getLogger(__name__)

VALIDITY = datetime.timedelta(days=3650)
#: A certificate closer than this to its end is replaced.
RENEW_BEFORE = datetime.timedelta(days=30)


def certificate_names(layout: ServerLayout) -> list[str]:
    """The DNS names the certificate must carry, as A-labels (IDNA) when needed."""
    names: list[str] = []
    for host in (layout.domain, layout.muc_host):
        try:
            name = host.encode("idna").decode("ascii")
        except UnicodeError:
            name = host
        if name not in names:
            names.append(name)
    return names


def _load_valid(layout: ServerLayout, now: datetime.datetime) -> x509.Certificate | None:
    """The existing certificate if it is usable as is, else None."""
    try:
        certificate = x509.load_pem_x509_certificate(layout.certificate_path.read_bytes())
        key = serialization.load_pem_private_key(layout.key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return None
    try:
        alternative = certificate.extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        ).value
    except x509.ExtensionNotFound:
        return None
    if sorted(alternative.get_values_for_type(x509.DNSName)) != sorted(certificate_names(layout)):
        return None
    if key.public_key() != certificate.public_key():
        return None
    if certificate.not_valid_after_utc - RENEW_BEFORE < now:
        return None
    return certificate


def make_certificate(
    layout: ServerLayout, *, now: datetime.datetime | None = None
) -> tuple[bytes, bytes]:
    """A new (certificate PEM, private key PEM) pair for ``layout``'s names."""
    now = now or datetime.datetime.now(datetime.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    names = certificate_names(layout)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, names[0]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "evim managed XMPP server"),
        ]
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )
    certificate = builder.sign(key, hashes.SHA256())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def ensure_certificate(layout: ServerLayout) -> bool:
    """Make sure a usable certificate and key are in place; True if new ones were written."""
    layout.prepare_directories()
    now = datetime.datetime.now(datetime.UTC)
    if _load_valid(layout, now) is not None:
        return False
    certificate_pem, key_pem = make_certificate(layout, now=now)
    # The key first: a certificate never sits next to a key it does not match for long,
    # and a half-done pair is detected and replaced on the next run.
    write_atomically(layout.key_path, key_pem, mode=0o600)
    write_atomically(layout.certificate_path, certificate_pem, mode=0o644)
    logger.info(
        "Created a self-signed certificate for %s in %s",
        ", ".join(certificate_names(layout)),
        layout.certs_dir,
    )
    return True
