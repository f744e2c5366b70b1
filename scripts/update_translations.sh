#!/usr/bin/env bash
# Refresh every app's catalogues from the code (French, English), then compile them.
# Translate the new French entries in src/evim/*/locale/fr/LC_MESSAGES/django.po, run again.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
for app in "$ROOT"/src/evim/*/locale; do
  (cd "$(dirname "$app")" && "$PYTHON" -m evim makemessages -l fr -l en --no-obsolete)
  for po in "$app"/*/LC_MESSAGES/django.po; do msgfmt -o "${po%.po}.mo" "$po"; done
done
