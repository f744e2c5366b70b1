"""The self-signed certificate: made once, private key 0600, reused, renewed on change."""

from __future__ import annotations

import stat
from dataclasses import replace
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from evim.managed_server.certificate import ensure_certificate
from evim.managed_server.layout import ServerLayout
from tests.fixtures.prosody import make_layout


def names(layout: ServerLayout) -> list[str]:
    certificate = x509.load_pem_x509_certificate(layout.certificate_path.read_bytes())
    extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    return extension.value.get_values_for_type(x509.DNSName)


def test_created_on_first_run_with_a_private_key(tmp_path: Path) -> None:
    layout = make_layout(tmp_path / "prosody", domain="lilas.test")
    assert ensure_certificate(layout) is True

    assert names(layout) == ["lilas.test", "conference.lilas.test"]
    assert stat.S_IMODE(layout.key_path.stat().st_mode) == 0o600
    certificate = x509.load_pem_x509_certificate(layout.certificate_path.read_bytes())
    key = serialization.load_pem_private_key(layout.key_path.read_bytes(), password=None)
    assert key.public_key() == certificate.public_key()
    assert certificate.issuer == certificate.subject


def test_reused_when_nothing_changed(tmp_path: Path) -> None:
    layout = make_layout(tmp_path / "prosody")
    ensure_certificate(layout)
    certificate, key = layout.certificate_path.read_bytes(), layout.key_path.read_bytes()

    assert ensure_certificate(layout) is False
    assert layout.certificate_path.read_bytes() == certificate
    assert layout.key_path.read_bytes() == key


def test_renewed_when_the_domain_changes(tmp_path: Path) -> None:
    layout = make_layout(tmp_path / "prosody", domain="old.test")
    ensure_certificate(layout)
    key = layout.key_path.read_bytes()

    renamed = replace(layout, domain="new.test", muc_host="rooms.new.test")
    assert ensure_certificate(renamed) is True
    assert names(renamed) == ["new.test", "rooms.new.test"]
    assert layout.key_path.read_bytes() != key
    assert stat.S_IMODE(layout.key_path.stat().st_mode) == 0o600


def test_renewed_when_the_key_is_lost_or_broken(tmp_path: Path) -> None:
    layout = make_layout(tmp_path / "prosody")
    ensure_certificate(layout)
    layout.key_path.unlink()
    assert ensure_certificate(layout) is True
    layout.key_path.write_text("not a key")
    assert ensure_certificate(layout) is True
    assert ensure_certificate(layout) is False


def test_international_domain_names_are_encoded(tmp_path: Path) -> None:
    layout = make_layout(tmp_path / "prosody", domain="théâtre.test")
    ensure_certificate(layout)
    assert names(layout)[0] == "théâtre.test".encode("idna").decode("ascii")
