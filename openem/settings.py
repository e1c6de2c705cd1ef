"""The one settings module. Environments differ by values (environment variables), not code.

With no environment set, the *embedded default* runs: SQLite and files under ``var/``, Celery
tasks executed in-process. Set ``DATABASE_URL``, ``CELERY_BROKER_URL`` (or ``REDIS_URL``) and
``S3_BUCKET`` (+ ``S3_ENDPOINT_URL`` ...) for the full stack. Every variable is listed in
README.md and ``.env.example``; a bad value stops the start with a clear message.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import environ
from csp.constants import NONCE
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")


def _bool(name: str, default: bool) -> bool:
    raw = env.str(name, default="")
    if raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}")


def _int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = env.str(name, default="")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be >= {minimum}, not {value}")
    return value


def _float(name: str, default: float, *, minimum: float, maximum: float) -> float:
    raw = env.str(name, default="")
    if raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {raw!r}") from None
    if not minimum <= value <= maximum:
        raise ImproperlyConfigured(f"{name} must be between {minimum} and {maximum}, not {value}")
    return value


def _url(name: str, value: str, schemes: set[str]) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in schemes or not (parsed.netloc or parsed.path):
        raise ImproperlyConfigured(
            f"{name}={value!r} is not a valid URL (expected a scheme among {sorted(schemes)})"
        )
    return value


# --- Core -------------------------------------------------------------------------------------

DEBUG = _bool("DJANGO_DEBUG", False)
_DEV_SECRET = "openem-embedded-default-not-secret"  # noqa: S105 - only for the embedded default
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default=_DEV_SECRET)
OPENEM_PUBLIC_DEPLOYMENT = _bool("OPENEM_PUBLIC_DEPLOYMENT", False)
if OPENEM_PUBLIC_DEPLOYMENT and SECRET_KEY == _DEV_SECRET:
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY must be set when OPENEM_PUBLIC_DEPLOYMENT is true"
    )
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
OPENEM_SITE_URL = _url(
    "OPENEM_SITE_URL",
    env.str("OPENEM_SITE_URL", default="http://127.0.0.1:8000"),
    {"http", "https"},
).rstrip("/")
# Links (identifiers, citations, BibTeX, wget/curl lists) use OPENEM_SITE_URL when it is set;
# unset, they follow the host the request came to (ALLOWED_HOSTS checks it): openem/site.py.
OPENEM_SITE_URL_SET = bool(env.str("OPENEM_SITE_URL", default=""))

DATA_DIR = Path(env.str("OPENEM_DATA_DIR", default=str(BASE_DIR / "var"))).resolve()
try:  # the embedded default keeps its database and objects here: make it on first start
    DATA_DIR.mkdir(parents=True, exist_ok=True)
except OSError as exc:
    raise ImproperlyConfigured(f"OPENEM_DATA_DIR={DATA_DIR} cannot be created: {exc}") from None

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "repository",
    "metadata",
    "ingest",
    "deposition",
    "fair",
    "stats",
    "demo",  # seed_demo: above every app, since it drives them all
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "openem.security.ImpossiblePathMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "openem.memo.ReadMemoMiddleware",  # a safe request asks the same read once
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "openem.site.SiteUrlMiddleware",
    "stats.middleware.UsageMiddleware",
]

ROOT_URLCONF = "openem.urls"
WSGI_APPLICATION = "openem.wsgi.application"
ASGI_APPLICATION = "openem.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "repository.context_processors.portal",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------------

_database_url = env.str("DATABASE_URL", default="")
if _database_url:
    try:
        DATABASES = {"default": env.db_url_config(_database_url)}
    except (ImproperlyConfigured, KeyError, ValueError) as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from None
    if DATABASES["default"]["ENGINE"] not in {
        "django.db.backends.postgresql",
        "django.db.backends.sqlite3",
    }:
        raise ImproperlyConfigured("DATABASE_URL must point to PostgreSQL (or SQLite)")
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "db.sqlite3",
            "OPTIONS": {"timeout": 20},
        }
    }
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# Persistent connections (PostgreSQL): each gunicorn thread and each worker process keeps one
# for DATABASE_CONN_MAX_AGE seconds instead of connecting per request; the health check
# replaces one the server dropped (a restart, pg_terminate_backend, an idle timeout) before a
# request uses it, instead of failing that request. Budget: README, "Production settings".
DATABASES["default"].setdefault(
    "CONN_MAX_AGE", _int("DATABASE_CONN_MAX_AGE", 60) if _database_url else 0
)
DATABASES["default"].setdefault(
    "CONN_HEALTH_CHECKS", _bool("DATABASE_CONN_HEALTH_CHECKS", bool(_database_url))
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
_redis_url = env.str("REDIS_URL", default="")
if _redis_url:
    _url("REDIS_URL", _redis_url, {"redis", "rediss"})
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _redis_url,
        }
    }

# --- Auth -------------------------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

# --- I18N, static ------------------------------------------------------------------------------

LANGUAGE_CODE = "en"
TIME_ZONE = env.str("OPENEM_TIME_ZONE", default="Europe/Zurich")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise looks there before collectstatic has run
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Object storage (one package: storage/) -----------------------------------------------------

_s3_bucket = env.str("S3_BUCKET", default="")
_s3_any = [
    name
    for name in ("S3_ENDPOINT_URL", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY")
    if env.str(name, default="")
]
if _s3_bucket:
    _endpoint = env.str("S3_ENDPOINT_URL", default="") or None
    if _endpoint:
        _url("S3_ENDPOINT_URL", _endpoint, {"http", "https"})
    _public_endpoint = env.str("S3_PUBLIC_ENDPOINT_URL", default="") or None
    if _public_endpoint:
        _url("S3_PUBLIC_ENDPOINT_URL", _public_endpoint, {"http", "https"})
    OPENEM_STORAGE = {
        "backend": "s3",
        "bucket": _s3_bucket,
        "endpoint_url": _endpoint,
        "public_endpoint_url": _public_endpoint,
        "access_key": env.str("S3_ACCESS_KEY_ID", default="") or None,
        "secret_key": env.str("S3_SECRET_ACCESS_KEY", default="") or None,
        "region": env.str("S3_REGION", default="us-east-1"),
        "addressing_style": env.str("S3_ADDRESSING_STYLE", default="path"),
    }
    if OPENEM_STORAGE["addressing_style"] not in {"path", "virtual", "auto"}:
        raise ImproperlyConfigured("S3_ADDRESSING_STYLE must be path, virtual or auto")
elif _s3_any:
    raise ImproperlyConfigured(
        f"{', '.join(_s3_any)} set but S3_BUCKET is missing: set S3_BUCKET to use S3 storage, "
        "or unset the S3_* variables to use local files"
    )
else:
    OPENEM_STORAGE = {
        "backend": "local",
        "root": env.str("OPENEM_STORAGE_ROOT", default=str(DATA_DIR / "objects")),
    }

OPENEM_PRESIGN_EXPIRY = _int("OPENEM_PRESIGN_EXPIRY", 3600, minimum=60)
OPENEM_CHECKSUM_MD5 = _bool("OPENEM_CHECKSUM_MD5", False)
OPENEM_ZIP_MAX_BYTES = _int("OPENEM_ZIP_MAX_BYTES", 2 * 1024**3, minimum=0)
# 16 MiB parts: eight in flight keep a link busy with 128 MiB of buffers; 64 MiB parts left a
# 1 GiB file two rounds of eight, the second waiting on the slowest (bench.cli_transfer).
OPENEM_UPLOAD_PART_SIZE = _int("OPENEM_UPLOAD_PART_SIZE", 16 * 1024**2, minimum=5 * 1024**2)
OPENEM_FIXITY_FRACTION = _float("OPENEM_FIXITY_FRACTION", 0.01, minimum=0.0, maximum=1.0)
OPENEM_SAMPLES_DIR = env.str(
    "OPENEM_SAMPLES_DIR", default=str(BASE_DIR.parent / "shared" / "samples")
)
OPENEM_SCHEMAS_DIR = env.str(
    "OPENEM_SCHEMAS_DIR", default=str(BASE_DIR.parent / "shared" / "schemas")
)
# Deposition: the EMDB header schema (a path or an http(s) URL, cached) and the EMPIAR API.
OPENEM_EMDB_XSD = env.str("OPENEM_EMDB_XSD", default="") or str(
    Path(OPENEM_SCHEMAS_DIR) / "emdb" / "emdb.xsd"
)
OPENEM_EMDB_XSD_RELAXED = env.str("OPENEM_EMDB_XSD_RELAXED", default="") or str(
    Path(OPENEM_SCHEMAS_DIR) / "emdb" / "emdb_relaxed.xsd"
)
if OPENEM_EMDB_XSD_RELAXED.lower() in {"off", "none"}:
    OPENEM_EMDB_XSD_RELAXED = ""
OPENEM_EMPIAR_API_URL = _url(
    "OPENEM_EMPIAR_API_URL",
    env.str("OPENEM_EMPIAR_API_URL", default="https://www.ebi.ac.uk/empiar/deposition/api/"),
    {"http", "https"},
)
OPENEM_EMPIAR_API_TOKEN = env.str("OPENEM_EMPIAR_API_TOKEN", default="")

# --- Celery -----------------------------------------------------------------------------------

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or _redis_url
if CELERY_BROKER_URL:
    _url("CELERY_BROKER_URL", CELERY_BROKER_URL, {"redis", "rediss", "amqp", "amqps"})
# No broker: the embedded default runs tasks in-process, at the point they are enqueued (the
# in-memory transport only stands in so that nothing ever tries a default AMQP server).
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
# In-process tasks need no broker; a hostname keeps kombu from warning that none was given.
CELERY_BROKER_URL = CELERY_BROKER_URL or "memory://localhost/"
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="") or (
    CELERY_BROKER_URL if CELERY_BROKER_URL.startswith("redis") else None
)
# Several portals (or test runs) may share one Redis: a key prefix keeps their queues apart.
CELERY_BROKER_KEY_PREFIX = env.str("CELERY_BROKER_KEY_PREFIX", default="")
if CELERY_BROKER_KEY_PREFIX and CELERY_BROKER_URL.startswith("redis"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {"global_keyprefix": CELERY_BROKER_KEY_PREFIX}
CELERY_TASK_ACKS_LATE = True
# Keep a worker's database connection across tasks (Celery closes it per task otherwise:
# a fifth of the per-file cost of ingest).
CELERY_DB_REUSE_MAX = 1000
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = _int("CELERY_WORKER_PREFETCH_MULTIPLIER", 4, minimum=1)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_SOFT_TIME_LIMIT = _int("CELERY_TASK_SOFT_TIME_LIMIT", 3600, minimum=1)
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + 60
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "release-embargoes": {"task": "repository.release_embargoes", "schedule": 3600.0},
    "fixity-check": {"task": "ingest.fixity_check", "schedule": 6 * 3600.0},
    "reconcile-stuck-files": {"task": "ingest.reconcile", "schedule": 600.0},
    "reconcile-package-jobs": {"task": "deposition.reconcile_package_jobs", "schedule": 600.0},
    "abort-stale-uploads": {"task": "ingest.abort_stale_uploads", "schedule": 24 * 3600.0},
    "aggregate-usage": {"task": "stats.aggregate_usage", "schedule": 300.0},
}

# --- Usage statistics and coverage (stats) ------------------------------------------------------

# Funding country of the imported EMDB entries the coverage dashboard counts nationally.
OPENEM_STATS_COUNTRY = env.str("OPENEM_STATS_COUNTRY", default="Switzerland")

# --- Email --------------------------------------------------------------------------------------

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="OpenEM portal <noreply@localhost>")
ADMINS = [("OpenEM admins", address) for address in env.list("OPENEM_ADMIN_EMAILS", default=[])]

# --- REST framework -----------------------------------------------------------------------------

_THROTTLE_RATE_PERIODS = {"second", "sec", "s", "minute", "min", "m", "hour", "h", "day", "d"}


def _throttle_rate(name: str, default: str) -> str | None:
    """A DRF rate such as ``120/minute``; ``off`` means no limit."""
    raw = env.str(name, default="").strip() or default
    if raw.lower() in {"off", "none"}:
        return None
    count, _, period = raw.partition("/")
    if not (count.isdigit() and int(count) > 0 and period in _THROTTLE_RATE_PERIODS):
        raise ImproperlyConfigured(
            f"{name} must be a rate like 120/minute (per second, minute, hour or day) or off, "
            f"not {raw!r}"
        )
    return raw


OPENEM_API_THROTTLE_RATES = {
    "anon": _throttle_rate("OPENEM_API_THROTTLE_ANON", "60/minute"),
    "user": _throttle_rate("OPENEM_API_THROTTLE_USER", "300/minute"),
    "facility_staff": _throttle_rate("OPENEM_API_THROTTLE_FACILITY_STAFF", "1200/minute"),
    "manifests": _throttle_rate("OPENEM_API_THROTTLE_MANIFESTS", "30/minute"),
    # Per-file upload endpoints, for staff, curators and admins: 10,000 small files are
    # 20,000-30,000 requests (register, multipart start, complete), counted apart.
    "uploads": _throttle_rate("OPENEM_API_THROTTLE_UPLOADS", "200/second"),
}

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "openem.api.schema.AutoSchema",
    # Token first: its WWW-Authenticate header makes unauthenticated requests 401, not 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "repository.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Views narrow this (IsAuthenticated...); objects are checked with repository.access.
    "DEFAULT_PERMISSION_CLASSES": [
        "openem.api.authentication.TokenScopePermission",
        "rest_framework.permissions.AllowAny",
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        "openem.api.throttling.AnonThrottle",
        "openem.api.throttling.UserThrottle",
        "openem.api.throttling.ScopedThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": OPENEM_API_THROTTLE_RATES,
    # Proxies in front of the portal that append to X-Forwarded-For (0: use the peer address).
    "NUM_PROXIES": _int("OPENEM_API_NUM_PROXIES", 0),
    "DEFAULT_PAGINATION_CLASS": "openem.api.pagination.PageNumberPagination",
    "EXCEPTION_HANDLER": "openem.api.exceptions.api_exception_handler",
    # ?format= is a filter (file format) and a manifest format here, not a renderer override.
    "URL_FORMAT_OVERRIDE": None,
    # JSON only: people explore the API in Swagger UI (/api/docs/), fed by the schema.
    "DEFAULT_RENDERER_CLASSES": ["openem.api.renderers.JSONRenderer"],
    "DATETIME_FORMAT": "iso-8601",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
# API versioning: every /api/ response names the API version and the oldest openem-client
# that works with it (openem.api.versions), which the client checks on its first request.
MIDDLEWARE.append("openem.api.versions.ApiVersionHeadersMiddleware")
SPECTACULAR_SETTINGS = {
    "TITLE": "OpenEM portal API",
    "DESCRIPTION": (
        "FAIR repository for electron-microscopy data of the Swiss EM facilities.\n\n"
        "Authenticate with a personal API token from your profile page "
        "(`Authorization: Bearer <secret>` or `Token <secret>`), or a browser session. "
        "Every error has one shape: "
        '`{"error": {"code": "...", "message": "...", "details": ...}}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "VisibilityEnum": "repository.models.Visibility",
        "PublishedVisibilityEnum": [("public", "public"), ("embargoed", "embargoed")],
        "DatasetStatusEnum": "repository.models.DatasetStatus",
        "FileStateEnum": "repository.models.FileState",
        "UploadSessionStateEnum": "ingest.models.UploadSessionState",
    },
}

# --- Security ------------------------------------------------------------------------------------
# Production is a set of values (README, "Production settings"): behind a TLS-terminating proxy,
# DJANGO_SECURE_PROXY_SSL_HEADER=X-Forwarded-Proto, HSTS seconds, and an https OPENEM_SITE_URL
# (which turns secure cookies and the HTTPS redirect on). `manage.py check --deploy` then
# reports nothing (tests/test_security_settings.py).

_https_site = OPENEM_SITE_URL.startswith("https://")
SECURE_SSL_REDIRECT = _bool("DJANGO_SECURE_SSL_REDIRECT", _https_site)
SESSION_COOKIE_SECURE = _bool("DJANGO_SESSION_COOKIE_SECURE", _https_site)
CSRF_COOKIE_SECURE = _bool("DJANGO_CSRF_COOKIE_SECURE", _https_site)
SECURE_HSTS_SECONDS = _int("DJANGO_SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = _bool("DJANGO_SECURE_HSTS_PRELOAD", False)
# The header the proxy sets to "https" on requests it received over TLS (only set this when a
# proxy that overwrites it is in front: a client could send it itself otherwise).
_proxy_ssl_header = env.str("DJANGO_SECURE_PROXY_SSL_HEADER", default="").strip()
if _proxy_ssl_header and not all(c.isalnum() or c == "-" for c in _proxy_ssl_header):
    raise ImproperlyConfigured(
        f"DJANGO_SECURE_PROXY_SSL_HEADER must be a header name such as X-Forwarded-Proto, "
        f"not {_proxy_ssl_header!r}"
    )
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_" + _proxy_ssl_header.upper().replace("-", "_"), "https") if _proxy_ssl_header else None
)
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
DATA_UPLOAD_MAX_MEMORY_SIZE = 16 * 1024 * 1024
FORMS_URLFIELD_ASSUME_HTTPS = True  # Django 6 behaviour now

# The Django admin is for site admins (superusers) only (openem.admin.AdminSite).
INSTALLED_APPS[INSTALLED_APPS.index("django.contrib.admin")] = "openem.admin.AdminConfig"

# Password rules for local accounts (the validators above, with a 12-character minimum).
AUTH_PASSWORD_VALIDATORS: list[dict[str, object]] = [  # type: ignore[no-redef]
    *(v for v in AUTH_PASSWORD_VALIDATORS if not v["NAME"].endswith("MinimumLengthValidator")),
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Login brute force (django-axes): OPENEM_LOGIN_FAILURE_LIMIT wrong passwords for one username
# from one address lock that pair out for OPENEM_LOGIN_COOLOFF_MINUTES (429 with a message).
INSTALLED_APPS.append("axes")
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
MIDDLEWARE.append("axes.middleware.AxesMiddleware")
AXES_FAILURE_LIMIT = _int("OPENEM_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = _int("OPENEM_LOGIN_COOLOFF_MINUTES", 15, minimum=1) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_IPWARE_PROXY_COUNT = _int("OPENEM_API_NUM_PROXIES", 0) or None
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False  # no banner on every start; lockouts are still logged

# Content-Security-Policy (django-csp): scripts only from the portal itself or carrying the
# request's nonce; styles also inline (style attributes in templates, ReDoc's injected styles:
# CSS cannot run script). Browsers upload and download straight from S3: the middleware adds
# the store's public origin (OPENEM_CSP_EXTRA_ORIGINS adds more, e.g. a CDN in front of S3).
INSTALLED_APPS.append("csp")
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
    "openem.security.StorageAwareCSPMiddleware",
)
TEMPLATES[0]["OPTIONS"]["context_processors"].append(  # type: ignore[index]
    "csp.context_processors.nonce"
)


_csp_extra = [
    _url("OPENEM_CSP_EXTRA_ORIGINS", origin, {"http", "https"})
    for origin in env.list("OPENEM_CSP_EXTRA_ORIGINS", default=[])
]
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", NONCE],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:", *_csp_extra],
        "connect-src": ["'self'", *_csp_extra],
        "font-src": ["'self'", "data:"],
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("OPENEM_LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
# Static files are served by WhiteNoise straight from the source folders until collectstatic runs.
WHITENOISE_USE_FINDERS = True

# --- FAIR publication (fair/: DataCite metadata, OAI-PMH, signposting, exports) ----------------

#: The DataCite Metadata Schema the XML is written for and validated against (fair/schemas/).
OPENEM_DATACITE_SCHEMA_VERSION = env.str("OPENEM_DATACITE_SCHEMA_VERSION", default="4.6")
if OPENEM_DATACITE_SCHEMA_VERSION not in {"4.6"}:
    raise ImproperlyConfigured(
        f"OPENEM_DATACITE_SCHEMA_VERSION must be 4.6 (the one vendored), "
        f"not {OPENEM_DATACITE_SCHEMA_VERSION!r}"
    )
#: Records per OAI-PMH list response; a resumption token carries on from there.
OPENEM_OAI_PAGE_SIZE = _int("OPENEM_OAI_PAGE_SIZE", 100, minimum=1)
#: How long an OAI-PMH resumption token stays valid (at least 10 minutes, harvesters are slow).
OPENEM_OAI_TOKEN_SECONDS = _int("OPENEM_OAI_TOKEN_SECONDS", 24 * 3600, minimum=600)
#: The adminEmail that OAI-PMH Identify must give.
OPENEM_OAI_ADMIN_EMAIL = env.str("OPENEM_OAI_ADMIN_EMAIL", default="openem-admin@example.org")
#: FAIR Signposting: at most this many `item` links (files) in a landing page's Link header.
OPENEM_SIGNPOSTING_MAX_ITEMS = _int("OPENEM_SIGNPOSTING_MAX_ITEMS", 50)

# --- DOIs (publishing/: DataCite REST API) -------------------------------------------------------

#: DataCite prefix (e.g. 10.80000); empty: the portal registers no DOIs and cites its own PIDs.
OPENEM_DATACITE_PREFIX = env.str("OPENEM_DATACITE_PREFIX", default="").strip()
OPENEM_DATACITE_URL = env.str("OPENEM_DATACITE_URL", default="https://api.datacite.org").rstrip("/")
OPENEM_DATACITE_REPOSITORY_ID = env.str("OPENEM_DATACITE_REPOSITORY_ID", default="").strip()
OPENEM_DATACITE_PASSWORD = env.str("OPENEM_DATACITE_PASSWORD", default="")
if OPENEM_DATACITE_PREFIX:
    import re as _re

    if not _re.fullmatch(r"10\.\d{4,9}", OPENEM_DATACITE_PREFIX):
        raise ImproperlyConfigured(
            f"OPENEM_DATACITE_PREFIX must be a DOI prefix like 10.80000, "
            f"not {OPENEM_DATACITE_PREFIX!r}"
        )
    _url("OPENEM_DATACITE_URL", OPENEM_DATACITE_URL, {"http", "https"})
    if not OPENEM_DATACITE_REPOSITORY_ID or not OPENEM_DATACITE_PASSWORD:
        raise ImproperlyConfigured(
            "OPENEM_DATACITE_PREFIX is set: OPENEM_DATACITE_REPOSITORY_ID and "
            "OPENEM_DATACITE_PASSWORD must be set too"
        )
#: Seconds to connect to / wait for DataCite per request.
OPENEM_DATACITE_TIMEOUT = _float("OPENEM_DATACITE_TIMEOUT", 20.0, minimum=0.1, maximum=600.0)
#: Automatic retries of one registration (exponential backoff) before it waits for the
#: periodic retry (beat, every 10 minutes) or a curator's retry button.
OPENEM_DATACITE_MAX_RETRIES = _int("OPENEM_DATACITE_MAX_RETRIES", 5)
CELERY_BEAT_SCHEDULE["retry-pending-dois"] = {
    "task": "publishing.retry_pending_dois",
    "schedule": 600.0,
}
INSTALLED_APPS.append("publishing")

# --- FAIR surfaces (issue 17): sitemap.xml is rendered by django.contrib.sitemaps' templates.
INSTALLED_APPS.append("django.contrib.sitemaps")

# --- Sign-in with OpenID Connect: SWITCH edu-ID, ORCID (accounts/, django-allauth) ---------------
# OPENEM_OIDC_PROVIDERS names the providers (e.g. "eduid,orcid"); each one's client comes from
# OPENEM_OIDC_<NAME>_CLIENT_ID / _CLIENT_SECRET, its discovery document from _DISCOVERY_URL
# (eduid and orcid have defaults), its button text from _LABEL, its scopes from _SCOPES.
# None named: local accounts only. The authorization code flow always uses PKCE and the ID
# token's signature, issuer, audience and expiry are always checked (accounts/oidc/).
INSTALLED_APPS += ["allauth", "allauth.account", "allauth.socialaccount", "accounts"]
MIDDLEWARE.append("allauth.account.middleware.AccountMiddleware")

OPENEM_OIDC_DEFAULTS = {
    "eduid": {
        "label": "SWITCH edu-ID",
        "discovery_url": "https://login.eduid.ch/.well-known/openid-configuration",
        "scopes": "openid profile email swissEduIDBase",
    },
    "orcid": {
        "label": "ORCID",
        "discovery_url": "https://orcid.org/.well-known/openid-configuration",
        "scopes": "openid",
    },
}


def _oidc_app(name: str) -> dict[str, object]:
    if not name.isalnum() or name != name.lower():
        raise ImproperlyConfigured(
            f"OPENEM_OIDC_PROVIDERS: {name!r} is not a provider name (lower-case letters, digits)"
        )
    prefix = f"OPENEM_OIDC_{name.upper()}_"
    defaults = OPENEM_OIDC_DEFAULTS.get(name, {})
    client_id = env.str(prefix + "CLIENT_ID", default="")
    discovery = env.str(prefix + "DISCOVERY_URL", default="") or defaults.get("discovery_url", "")
    if not client_id or not discovery:
        raise ImproperlyConfigured(
            f"OPENEM_OIDC_PROVIDERS names {name}: set {prefix}CLIENT_ID"
            + ("" if discovery else f" and {prefix}DISCOVERY_URL")
        )
    _url(prefix + "DISCOVERY_URL", discovery, {"http", "https"})
    scopes = (env.str(prefix + "SCOPES", default="") or defaults.get("scopes", "openid")).split()
    if "openid" not in scopes:
        raise ImproperlyConfigured(f"{prefix}SCOPES must include openid, not {scopes!r}")
    return {
        "provider_id": name,
        "name": env.str(prefix + "LABEL", default="") or defaults.get("label", name),
        "client_id": client_id,
        "secret": env.str(prefix + "CLIENT_SECRET", default=""),
        "settings": {
            "server_url": discovery,
            "scope": scopes,
            "oauth_pkce_enabled": True,
            # ORCID's sub is the ORCID iD (stored as verified); edu-ID's sub is pairwise.
            "kind": name if name in OPENEM_OIDC_DEFAULTS else "oidc",
        },
    }


SOCIALACCOUNT_PROVIDERS: dict[str, dict[str, object]] = {
    "openid_connect": {
        "APPS": [_oidc_app(name) for name in env.list("OPENEM_OIDC_PROVIDERS", default=[])],
        "OAUTH_PKCE_ENABLED": True,
    }
}
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "accounts.adapters.SocialAccountAdapter"
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False  # an e-mail address never links accounts by itself
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_LOGIN_ON_GET = False  # the provider redirect starts with a POST (CSRF-safe)
ACCOUNT_EMAIL_VERIFICATION = "none"  # the provider verified it; local accounts are made by admins
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "email*"]
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].update(  # type: ignore[attr-defined]
    {
        "FacilityRoleEnum": "repository.models.FacilityRole",
        "InvitationRoleEnum": "accounts.models.InvitationRole",
        "InvitationStateEnum": "accounts.models.InvitationState",
        "AccessRequestStateEnum": "accounts.models.RequestState",
    }
)
#: How long an invitation link (by e-mail or edu-ID) stays valid.
OPENEM_INVITATION_DAYS = _int("OPENEM_INVITATION_DAYS", 14, minimum=1)

# /metrics for Prometheus (openem/metrics.py): served only with a token, sent as a bearer token.
OPENEM_METRICS_TOKEN = env.str("OPENEM_METRICS_TOKEN", default="")
