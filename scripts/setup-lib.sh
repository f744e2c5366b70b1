# Shared set-up steps for scripts/demo and scripts/test.  Idempotent: each step checks
# first and does nothing when it is already done, so a second run is quick.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${EVIM_VENV:-$ROOT/.venv}"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# ensure_apt_packages PKG...: install the Debian packages that are missing.
ensure_apt_packages() {
  local missing=()
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "Installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

RUNTIME_PACKAGES=(prosody prosody-modules lua-unbound lua-dbi-sqlite3 openssl ca-certificates)
TEST_PACKAGES=(chromium go-sendxmpp postgresql gettext lua5.4)

# ensure_venv [EXTRAS]: a virtualenv with evim installed (editable), reinstalled only
# when pyproject.toml changed.
ensure_venv() {
  local extras="${1:-}"
  local python="${PYTHON:-python3}"
  if ! "$python" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
    echo "evim needs Python 3.11 or newer as '$python' (Debian 12: apt-get install python3)." >&2
    exit 1
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    if ! "$python" -m venv --help >/dev/null 2>&1 || ! "$python" -c 'import ensurepip' 2>/dev/null; then
      ensure_apt_packages python3-venv
    fi
    say "Creating the virtualenv $VENV"
    "$python" -m venv "$VENV"
  fi
  local stamp="$VENV/.evim-installed${extras:+-$extras}"
  local wanted
  wanted="$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
    say "Installing evim${extras:+ with [$extras]} into $VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q -e "$ROOT${extras:+[$extras]}"
    echo "$wanted" > "$stamp"
  fi
}

# ensure_node_packages: the browser's files (Converse.js, pinned in package-lock.json) in
# node_modules, with `npm ci`; again only when package-lock.json changed.  No install
# scripts run: evim serves the packages' prebuilt dist files and builds nothing.
ensure_node_packages() {
  if ! command -v npm >/dev/null 2>&1; then
    ensure_apt_packages nodejs npm
  fi
  local stamp="$ROOT/node_modules/.evim-installed"
  local wanted
  wanted="$(sha256sum "$ROOT/package-lock.json" | cut -c1-16)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
    say "Installing the browser's packages (Converse.js) with npm ci"
    (cd "$ROOT" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
    echo "$wanted" > "$stamp"
  fi
}
