"""Check evim's translation catalogues: complete, up to date, compiled.

For every app with a ``locale/`` folder:
- every translatable string in the code and templates is in the French catalogue
  (makemessages is run on a copy of the app and the msgids are compared);
- every French entry is translated and none is fuzzy;
- the committed ``.mo`` files are exactly what ``msgfmt`` makes of the ``.po`` files.
Prints what is wrong and how to fix it; exits 1 if anything is.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "evim"
FIX = "run scripts/update_translations.sh, translate, and commit the .po and .mo files"

_ENTRY = re.compile(r'^(#, fuzzy\n)?msgid ((?:".*"\n)+)msgstr ((?:".*"\n)+)', re.MULTILINE)


def _unquote(block: str) -> str:
    return "".join(line.strip()[1:-1] for line in block.strip().splitlines())


def read_po(path: Path) -> dict[str, tuple[str, bool]]:
    """msgid → (msgstr, fuzzy), without the header entry; plural forms keep msgstr[0]."""
    text = path.read_text(encoding="utf-8")
    text = re.sub(r'^msgid_plural ".*"\n(?:".*"\n)*', "", text, flags=re.MULTILINE)
    text = re.sub(r"^msgstr\[0\] ", "msgstr ", text, flags=re.MULTILINE)
    text = re.sub(r'^msgstr\[\d+\] ".*"\n(?:".*"\n)*', "", text, flags=re.MULTILINE)
    entries = {}
    for match in _ENTRY.finditer(text):
        msgid = _unquote(match.group(2))
        if msgid:
            entries[msgid] = (_unquote(match.group(3)), match.group(1) is not None)
    return entries


def extracted_msgids(app: Path) -> set[str]:
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / app.name
        shutil.copytree(app, copy, ignore=shutil.ignore_patterns("__pycache__"))
        shutil.rmtree(copy / "locale")
        (copy / "locale").mkdir()
        subprocess.run(
            [sys.executable, "-m", "evim", "makemessages", "-l", "fr", "--no-location"],
            cwd=copy,
            check=True,
            capture_output=True,
            env={**os.environ, "EVIM_PROJECT_YML": str(Path(scratch) / "none.yml")},
        )
        return set(read_po(copy / "locale" / "fr" / "LC_MESSAGES" / "django.po"))


def check_app(app: Path) -> list[str]:
    problems = []
    po = app / "locale" / "fr" / "LC_MESSAGES" / "django.po"
    if not po.exists():
        return [f"{app.name}: no French catalogue {po.relative_to(ROOT)}; {FIX}"]
    catalogue = read_po(po)
    for msgid in sorted(extracted_msgids(app) - set(catalogue)):
        problems.append(f"{app.name}: not in the French catalogue: {msgid!r}; {FIX}")
    for msgid, (msgstr, fuzzy) in sorted(catalogue.items()):
        if not msgstr or fuzzy:
            state = "fuzzy" if fuzzy else "untranslated"
            problems.append(f"{app.name}: {state} in French: {msgid!r}; {FIX}")
    for po_file in sorted((app / "locale").glob("*/LC_MESSAGES/django.po")):
        mo_file = po_file.with_suffix(".mo")
        with tempfile.NamedTemporaryFile(suffix=".mo") as fresh:
            subprocess.run(["msgfmt", "-o", fresh.name, str(po_file)], check=True)
            if not mo_file.exists() or Path(fresh.name).read_bytes() != mo_file.read_bytes():
                problems.append(f"{mo_file.relative_to(ROOT)} is not compiled from its .po; {FIX}")
    return problems


def main() -> int:
    apps = sorted(path.parent for path in PACKAGE.glob("*/locale"))
    problems = [problem for app in apps for problem in check_app(app)]
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"translations: {len(apps)} apps, French complete and compiled")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
