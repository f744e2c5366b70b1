"""collectstatic writes .gz and .br copies of the text files (evim.lib.static_storage), for
evim's server to send to the browsers that accept them; only what changed is compressed
again (``evim run`` collects on every start)."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable
from pathlib import Path

import brotli
import pytest
from django.core.management import call_command
from pytest_django.fixtures import Settings as SettingsWrapper

from evim.lib.static_files import variant_is_current

STYLE = b"".join(b".rule-%d{color:#%06x;margin:%dpx}\n" % (n, n * 997, n) for n in range(200))
LOGO = (
    b'<svg xmlns="http://www.w3.org/2000/svg">' + b'<rect width="1" height="1"/>' * 80 + b"</svg>"
)


@pytest.fixture
def collect(tmp_path: Path, settings: SettingsWrapper) -> Callable[[], Path]:
    """collectstatic from ``tmp_path/source`` into ``tmp_path/root``, with evim's storage."""
    source = tmp_path / "source"
    source.mkdir()
    (source / "app.css").write_bytes(b'h1{background:url("logo.svg")}\n' + STYLE)
    (source / "logo.svg").write_bytes(LOGO)
    (source / "tiny.js").write_bytes(b"console.log(1);\n")
    (source / "app.js.map").write_bytes(b'{"mappings":"' + b"AAAA;" * 2000 + b'"}')
    (source / "noise.txt").write_bytes(os.urandom(4096))  # compresses to more than it is
    (source / "photo.png").write_bytes(b"\x89PNG" + b"\x00" * 4096)  # not a text
    settings.STATICFILES_DIRS = [source]
    settings.STATICFILES_FINDERS = ["django.contrib.staticfiles.finders.FileSystemFinder"]
    settings.STATIC_ROOT = tmp_path / "root"
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {
            "BACKEND": "evim.lib.static_storage.PrecompressedManifestStaticFilesStorage"
        },
    }

    def run() -> Path:
        call_command("collectstatic", interactive=False, verbosity=0)
        return tmp_path / "root"

    return run


def hashed(root: Path, name: str) -> Path:
    manifest = json.loads((root / "staticfiles.json").read_text())
    stored: str = manifest["paths"][name]
    return root / stored


def copies(path: Path) -> list[str]:
    return sorted(p.name.removeprefix(path.name) for p in path.parent.glob(f"{path.name}.*"))


def assert_copies_of(path: Path) -> None:
    content = path.read_bytes()
    assert gzip.decompress(path.with_name(path.name + ".gz").read_bytes()) == content
    assert brotli.decompress(path.with_name(path.name + ".br").read_bytes()) == content
    for suffix in (".gz", ".br"):
        assert variant_is_current(path.with_name(path.name + suffix).stat(), path.stat())


def test_text_files_get_smaller_copies(collect: Callable[[], Path]) -> None:
    root = collect()
    css = hashed(root, "app.css")
    assert b"logo." in css.read_bytes() and b'url("logo.svg")' not in css.read_bytes()
    for path in (root / "app.css", css, root / "logo.svg", hashed(root, "logo.svg")):
        assert copies(path) == [".br", ".gz"], path
        assert_copies_of(path)
    assert copies(root / "app.js.map") == [".gz"]  # source maps: gzip only
    for name in ("tiny.js", "noise.txt", "photo.png"):  # too small, not smaller, not text
        assert copies(root / name) == [], name
        assert copies(hashed(root, name)) == [], name


def test_only_what_changed_is_compressed_again(collect: Callable[[], Path]) -> None:
    root = collect()
    css = hashed(root, "app.css")
    made = {
        path: path.stat().st_ino
        for original in (root / "app.css", css, root / "logo.svg")
        for path in original.parent.glob(f"{original.name}.*")
    }
    written = css.stat().st_mtime_ns

    root = collect()
    # The hashed stylesheet was written again (ManifestStaticFilesStorage does it on every
    # run): its copies, of the same content, are the same files, still current.
    assert css.stat().st_mtime_ns != written
    assert {path: path.stat().st_ino for path in made} == made
    assert_copies_of(css)

    source = root.parent / "source" / "app.css"
    source.write_bytes(source.read_bytes() + b"p{margin:0}\n" * 20)
    os.utime(source, ns=(written + 10**10, written + 10**10))  # newer than the collected one
    root = collect()
    assert (root / "app.css").read_bytes().endswith(b"p{margin:0}\n")
    assert_copies_of(root / "app.css")
    assert hashed(root, "app.css") != css
    assert_copies_of(hashed(root, "app.css"))
    assert (root / "logo.svg.br").stat().st_ino == made[root / "logo.svg.br"]
