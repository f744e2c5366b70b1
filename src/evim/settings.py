"""Django settings for evim.

The environment is read here and nowhere else (``EVIM_*`` and ``DATABASE_URL``), through
the typed readers of ``evim.lib.env``.  Everything else reads ``django.conf.settings``.
The README lists every variable.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from evim.lib.env import (
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_path,
    env_port,
    env_secret,
    env_str,
    read_or_create_secret,
)

# Lets classes such as forms.ModelForm[User] be subscripted at run time, as mypy wants.
django_stubs_ext.monkeypatch()

PACKAGE_DIR = Path(__file__).resolve().parent

# --- Where evim keeps its state -----------------------------------------------------------

# Database (SQLite), generated secrets, the managed Prosody's configuration and data.
EVIM_DATA_DIR = env_path("EVIM_DATA_DIR", Path.home() / ".local" / "share" / "evim")
# e-venement's config/project.yml (section ``messaging``); relative to the current directory.
EVIM_PROJECT_YML = env_path("EVIM_PROJECT_YML", Path("config") / "project.yml")
# Which environment section of project.yml applies over ``all:`` (Symfony's prod/dev/test).
EVIM_ENV = env_str("EVIM_ENV", "prod")

# --- Core Django --------------------------------------------------------------------------

DEBUG = env_bool("EVIM_DEBUG", False)
SECRET_KEY = env_secret("EVIM_SECRET_KEY") or read_or_create_secret(EVIM_DATA_DIR / "secret_key")
ALLOWED_HOSTS = env_list("EVIM_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
# Behind HTTPS (directly or through a reverse proxy): secure cookies, HSTS, redirect.
EVIM_HTTPS = env_bool("EVIM_HTTPS", False)

# Where ``evim run`` listens.
EVIM_HOST = env_str("EVIM_HOST", "127.0.0.1")
EVIM_PORT = env_port("EVIM_PORT", 8000)

# The organisation running this back office (a theatre, a venue...).
EVIM_STRUCTURE_NAME = env_str("EVIM_STRUCTURE_NAME", "e-venement")
# The structure's room (members-only, every colleague a member).  Empty: the first room of
# messaging.chatrooms on EVIM_XMPP_MUC_HOST.  Several structures on one server: each its own.
EVIM_STRUCTURE_ROOM = env_str("EVIM_STRUCTURE_ROOM", "").lower()
# Synchronise the rooms, contacts and bookmarks in the background after every change of
# users or accounts (``evim sync`` does it by hand).
EVIM_SYNC_AUTOMATIC = env_bool("EVIM_SYNC_AUTOMATIC", True)

INSTALLED_APPS = [
    "evim.backoffice",
    "evim.messaging",
    "evim.service",
    "evim.gateway",
    "evim.managed_server",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Compresses what every middleware below made (so, above any that reads or changes
    # the body): on while the service's Compression option is.
    "evim.service.middleware.CompressionMiddleware",
    "evim.service.https.ForceHttpsMiddleware",
    "evim.backoffice.middleware.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # The service's HTTP authentication: the login a trusted reverse proxy passes (before
    # the user's language is chosen, and before LoginRequiredMiddleware sends to /login/).
    "evim.service.http_auth.HttpAuthMiddleware",
    "evim.backoffice.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
]

ROOT_URLCONF = "evim.urls"
ASGI_APPLICATION = "evim.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "evim.backoffice.context_processors.backoffice",
            ],
        },
    },
]

DATABASE_URL = env_str("DATABASE_URL", "")
if DATABASE_URL:
    if not DATABASE_URL.startswith(("postgres://", "postgresql://", "sqlite://")):
        raise ImproperlyConfigured(
            f"DATABASE_URL: expected a postgresql:// (or sqlite://) address, found "
            f"{DATABASE_URL.split('://')[0]!r}://…; for example "
            "postgresql://evim:PASSWORD@localhost:5432/evim"
        )
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(EVIM_DATA_DIR / "evim.sqlite3"),
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                # WAL with synchronous=NORMAL: no fsync per commit (safe against crashes
                # of evim; a power cut may lose the last commits), as SQLite advises for WAL.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "backoffice.User"
LOGIN_URL = "backoffice:login"
LOGIN_REDIRECT_URL = "backoffice:home"
LOGOUT_REDIRECT_URL = "backoffice:login"

# After this many failed logins for one login name from one address within the window
# (seconds), further attempts are refused until the window has passed.
EVIM_LOGIN_FAILURE_LIMIT = env_int("EVIM_LOGIN_FAILURE_LIMIT", 10, minimum=1)
EVIM_LOGIN_FAILURE_WINDOW = env_int("EVIM_LOGIN_FAILURE_WINDOW", 900, minimum=1)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Languages: French first, English too ---------------------------------------------------

LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", _("French")), ("en", _("English"))]
LOCALE_PATHS: list[Path] = []
USE_I18N = True
USE_TZ = True
TIME_ZONE = env_str("EVIM_TIME_ZONE", "Europe/Paris")

# --- Static files: collected into the data directory, served by evim's ASGI app ------------

STATIC_URL = "/static/"
STATIC_ROOT = EVIM_DATA_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # ManifestStaticFilesStorage, plus .gz and .br copies of the text files.
    "staticfiles": {"BACKEND": "evim.lib.static_storage.PrecompressedManifestStaticFilesStorage"},
}
# The chat's browser client: Converse.js's prebuilt files, installed by ``npm ci`` (pinned in
# package.json and package-lock.json at the repository's root), served under static/converse/.
EVIM_CONVERSE_DIR = env_path(
    "EVIM_CONVERSE_DIR", PACKAGE_DIR.parent.parent / "node_modules" / "converse.js" / "dist"
)
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "evim.messaging.converse.ConverseFinder",
]

# --- Security ------------------------------------------------------------------------------

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# HTTPS: EVIM_HTTPS=1 turns Django's protections on here, for good; administrators can also
# turn "Force HTTPS" on from the service settings page (evim.service.https, at once).
EVIM_HSTS_SECONDS = env_int("EVIM_HSTS_SECONDS", 31_536_000, minimum=0)
if EVIM_HTTPS:
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = EVIM_HSTS_SECONDS
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("EVIM_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("EVIM_HSTS_PRELOAD", False)
# Set when a reverse proxy terminates TLS and says so in this header.
if env_bool("EVIM_BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Pages load only evim's own files: no CDN, no third party, no inline script; the only inline
# styles are the chat's style attributes and two empty <style> elements (see below).
EVIM_CONTENT_SECURITY_POLICY: dict[str, list[str]] = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    # The two hashes: the empty <style> elements Converse.js's build still inserts (its CSS
    # comes from converse.min.css): one empty, one holding only an empty source map comment.
    "style-src": [
        "'self'",
        "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",
        "'sha256-JRf3eZJIF59VkE1tlxlBPiCQXjGJ1uE88pEYh49RtTY='",
    ],
    # Converse (lit templates) sizes its icons and colours its avatars with style attributes.
    # Attributes only — no <style> element, no stylesheet from elsewhere, never a script.
    "style-src-attr": ["'unsafe-inline'"],
    # data: and blob: for the chat's avatars and previews (made in the page, never fetched).
    "img-src": ["'self'", "data:", "blob:"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
# HSTS preloading commits every sub-domain of the registrable domain, for months: a choice
# for the domain's owner (EVIM_HSTS_PRELOAD=1), not a default of a back office.
SILENCED_SYSTEM_CHECKS = ["security.W021"]
CSRF_TRUSTED_ORIGINS = env_list("EVIM_CSRF_TRUSTED_ORIGINS", [])

# --- XMPP: the managed Prosody (default) or an external server -------------------------------

# "managed": evim renders a Prosody configuration and runs Prosody itself.
# "external": evim talks to a server run by someone else and starts nothing.
EVIM_XMPP_SERVER = env_choice("EVIM_XMPP_SERVER", "managed", ("managed", "external"))
EVIM_XMPP_DOMAIN = env_str("EVIM_XMPP_DOMAIN", "localhost").lower()
EVIM_XMPP_MUC_HOST = env_str("EVIM_XMPP_MUC_HOST", f"conference.{EVIM_XMPP_DOMAIN}").lower()
# Client-to-server address.  Managed: where Prosody listens (loopback).  External: where
# evim connects (empty host: the domain's SRV records, then the domain itself).
EVIM_XMPP_HOST = env_str("EVIM_XMPP_HOST", "127.0.0.1" if EVIM_XMPP_SERVER == "managed" else "")
EVIM_XMPP_C2S_PORT = env_port("EVIM_XMPP_C2S_PORT", 5222)
# The managed Prosody's HTTP port (WebSocket and BOSH), loopback only.
EVIM_XMPP_HTTP_PORT = env_port("EVIM_XMPP_HTTP_PORT", 5280)
# The Prosody executable (a name looked up in PATH, or a path).
EVIM_PROSODY_BIN = env_str("EVIM_PROSODY_BIN", "prosody")
EVIM_PROSODYCTL_BIN = env_str("EVIM_PROSODYCTL_BIN", "prosodyctl")
# Seconds to wait for the managed Prosody to accept connections.
EVIM_XMPP_START_TIMEOUT = env_int("EVIM_XMPP_START_TIMEOUT", 20, minimum=1)

# Accounts on other servers: where to connect for a domain instead of its DNS SRV records,
# "domain=host:port" or "domain=host:port/direct-tls", comma-separated (validated by the
# xmpp.E001 check).  For private deployments and tests.
EVIM_XMPP_ADDRESS_OVERRIDES = env_str("EVIM_XMPP_ADDRESS_OVERRIDES", "")
# A CA bundle (PEM) to verify external servers' certificates with, instead of the system's.
EVIM_XMPP_CA_FILE = env_str("EVIM_XMPP_CA_FILE", "")
# Seconds an XMPP connection (test, provisioning) may take before it is called a time-out.
EVIM_XMPP_TIMEOUT = env_int("EVIM_XMPP_TIMEOUT", 15, minimum=1)
# Lock host: only accounts of EVIM_XMPP_DOMAIN may be mapped to back-office users.
EVIM_XMPP_LOCK_HOST = env_bool("EVIM_XMPP_LOCK_HOST", False)

# Jabber passwords are encrypted at rest with Fernet keys: the first encrypts, all decrypt.
# Either inline (EVIM_ACCOUNT_KEYS, comma-separated) or in a file, one key a line
# (EVIM_ACCOUNT_KEYS_FILE; default: made in the data directory, mode 0600, on first use).
# ``evim keys rotate`` adds a new key to the file and re-encrypts every password with it.
EVIM_ACCOUNT_KEYS = env_str("EVIM_ACCOUNT_KEYS", "")
EVIM_ACCOUNT_KEYS_PATH = env_path("EVIM_ACCOUNT_KEYS_FILE", EVIM_DATA_DIR / "account-keys")
if EVIM_ACCOUNT_KEYS and env_str("EVIM_ACCOUNT_KEYS_FILE", ""):
    raise ImproperlyConfigured("Set either EVIM_ACCOUNT_KEYS or EVIM_ACCOUNT_KEYS_FILE, not both.")

# --- The XMPP gateway (the browser's stream, relayed) --------------------------------------

# Seconds a one-time token handed to the browser stays valid.
EVIM_GATEWAY_TOKEN_SECONDS = env_int("EVIM_GATEWAY_TOKEN_SECONDS", 60, minimum=5)
# Streams one user may have open at once (tabs, devices through the gateway).
EVIM_GATEWAY_MAX_SESSIONS_PER_USER = env_int("EVIM_GATEWAY_MAX_SESSIONS_PER_USER", 10, minimum=1)
# Guest streams (anonymous mode) one address may open per minute.
EVIM_GATEWAY_GUEST_STREAMS_PER_MINUTE = env_int(
    "EVIM_GATEWAY_GUEST_STREAMS_PER_MINUTE", 10, minimum=1
)
# Frames per second a browser may send (sustained), and the burst allowed above it.
EVIM_GATEWAY_FRAMES_PER_SECOND = env_int("EVIM_GATEWAY_FRAMES_PER_SECOND", 20, minimum=1)
EVIM_GATEWAY_FRAME_BURST = env_int("EVIM_GATEWAY_FRAME_BURST", 200, minimum=1)
# Largest element (stanza) accepted from either side, in bytes (as Prosody and ejabberd).
EVIM_GATEWAY_MAX_STANZA_BYTES = env_int("EVIM_GATEWAY_MAX_STANZA_BYTES", 262_144, minimum=10_000)
# How often each stream checks that its back-office session and account still exist.
EVIM_GATEWAY_RECHECK_SECONDS = env_int("EVIM_GATEWAY_RECHECK_SECONDS", 5, minimum=1)
# A BOSH session with no request for this long ends as a page navigation does (resumable).
EVIM_GATEWAY_BOSH_INACTIVITY_SECONDS = env_int(
    "EVIM_GATEWAY_BOSH_INACTIVITY_SECONDS", 60, minimum=2
)

# --- Logging: to stderr, never secrets -------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
    "loggers": {
        "evim": {"level": env_str("EVIM_LOG_LEVEL", "INFO").upper(), "propagate": True},
    },
}
